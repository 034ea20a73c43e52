"""Reference SISM models of the paper, built on the core metrics (the core never imports this package).

* :mod:`.da` - Denoise Activation (Sec. 3.2, Eqs. 2-9): ``noise_filter`` (f^N, a thin wrapper over
  :func:`sem_metric.labelmap.context_torch.context_filter`), ``DenoiseActivation`` (Eqs. 5-6, for training on any
  generator's logits), ``da_test`` (Eq. 9), ``fuse`` (Eqs. 2 / 8).
* :mod:`.twosm` - TwoSM structure generator, PatchGAN discriminator and losses (Sec. 3.1, Eqs. 1 / 7).
* :mod:`.sism_data` - SISM samples from label maps; CamVid, Cityscapes and ADE20K loaders.
* ``python -m sem_metric.reference.train`` / ``python -m sem_metric.reference.evaluate``.

Nothing is imported here, so ``import sem_metric.reference`` stays light.
"""
