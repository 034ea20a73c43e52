"""Sem, the semantic-similarity metric of Eq. 10, and everything it is made of.

* :mod:`.classes` - the 80 COCO classes, the classifier's output space;
* :mod:`.gated_conv`, :mod:`.classifier` - the shape classifier F (Sec. 3.3);
* :mod:`.preprocess` - ``box-window-v1``: how (map, box, label) becomes F's 2-channel input;
* :mod:`.weights` - the registry of shipped weights, verified loading, the Hugging Face Hub path;
* :mod:`.cache` - the ground-truth probability cache (``sem-score --gt-cache``);
* :mod:`.metric` - ``compute_sem`` and friends.

Nothing is imported here: torch and timm load when a submodule is first used.
"""
