"""Reference SISM models of the paper, built on the core metrics (the core never imports this package).

* :mod:`.da` - Denoise Activation (Sec. 3.2, Eqs. 2-9): ``noise_filter`` (f^N, a thin wrapper over
  :func:`sem_metric.labelmap.context_torch.context_filter`), ``DenoiseActivation`` (Eqs. 5-6, for
  training on any generator's logits), ``da_test`` (Eq. 9), ``fuse`` (Eqs. 2 / 8).
* :mod:`.twosm` - TwoSM structure generator, PatchGAN discriminator and losses (Sec. 3.1, Eqs. 1 / 7).
* :mod:`.sism_data` - SISM samples from label maps, built through :mod:`sem_metric.task` (objects, boxes,
  S^u and the datasets' encodings live there); CamVid, Cityscapes and ADE20K loaders.
* ``python -m sem_metric.reference.train`` / ``python -m sem_metric.reference.evaluate``.

The public names below are exported lazily (``from sem_metric.reference import noise_filter`` works),
so ``import sem_metric.reference`` stays light: torch loads with the first name used.
"""
from __future__ import annotations

from ..lazy import lazy_exports

# public name -> submodule that defines it (no name equals a submodule's name, so none shadows another)
_LAZY = {
    **{n: "da" for n in ("noise_filter", "filtered_logits", "denoise_activation", "da_log_prob",
                         "DenoiseActivation", "fuse", "inpaint", "da_test")},
    **{n: "twosm" for n in ("TwoSMConfig", "TwoSMGenerator", "PatchDiscriminator", "TwoSM", "save_generator",
                            "load_generator", "context_log_prob", "context_probs", "rec_loss_p", "rec_loss_o")},
    **{n: "sism_data" for n in ("LabelMapRecord", "SISMSample", "SISMDataset", "collate", "make_sample",
                                "find_targets", "samples_from_records", "min_area_pixels", "resize_nearest",
                                "load_camvid", "load_cityscapes", "load_ade20k", "decode_cityscapes_instances",
                                "decode_ade20k_seg", "default_data_root", "CAMVID_CLASSES", "CAMVID_NUM_CLASSES",
                                "CAMVID_TARGETS", "CITYSCAPES_NUM_CLASSES", "CITYSCAPES_TARGETS")},
    "build_samples": "train",
    "quick_eval": "train",
    "predict": "evaluate",
    "score": "evaluate",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
