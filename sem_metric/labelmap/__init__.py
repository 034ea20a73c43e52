"""Label-map metrics of the paper (Sec. 4.1) and the label-map geometry they share; torch-free.

* :mod:`.box` - boxes ``b = (x0, y0, x1, y1)`` (Sec. 3) and label-map / label input validation;
* :mod:`.metrics` - tIOU, hamm and NN (noise pixels), single-sample and batched;
* :mod:`.context` - the context ring ``M^1`` (Eq. 3) and the classes DA allows in a box (Eq. 4);
* :mod:`.context_torch` - ``f^N`` (Eq. 4) as a batched torch tensor, for Denoise Activation;
* :mod:`.target_object` - Eq. 10's binary target-object map ``O`` and box mask ``M``.

Only :mod:`.context_torch` imports torch. Nothing is imported here (submodules load on use).
"""
