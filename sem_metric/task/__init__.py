"""SISM evaluation tasks: build, version and verify the evaluation set (paper Sec. 3, 4.1), ``sem-task``.

A *protocol* (:mod:`.protocols`, one registry of named, versioned entries) fixes which objects are
removed from which maps; :func:`build_task` writes a task directory (``gt/``, ``incomplete/`` = S^u,
``boxes.json``, ``task.json`` with the digest and the scores of S^u); :func:`verify_task` re-hashes and
rebuilds it; ``sem-score PRED_DIR --task TASK_DIR`` scores predictions on it.

* :mod:`.protocols` - :class:`Protocol`, :data:`PROTOCOLS`, :func:`get_protocol`, :func:`custom_protocol`
* :mod:`.sources`   - the datasets' encodings (CamVid, Cityscapes, ADE20K, COCO panoptic, any label maps)
* :mod:`.targets`   - objects, tight boxes, S^u (the one implementation; the reference models use it)
* :mod:`.digest`    - the task digest over boxes and ground-truth content
* :mod:`.build`     - :func:`build_task`, :func:`iter_samples`
* :mod:`.load`      - :func:`load_task`, :func:`verify_task`
* :mod:`.scoring`   - :func:`evaluate_task`, what ``sem-score --task`` uses
* :mod:`.cli`       - ``sem-task list | build | verify | show``

Torch-free; names are imported on first use.
"""
from __future__ import annotations

from ..lazy import lazy_exports

_LAZY = {
    **{n: "protocols" for n in ("Protocol", "PROTOCOLS", "get_protocol", "list_protocols", "custom_protocol",
                                "parse_resolution")},
    **{n: "targets" for n in ("Target", "find_targets", "filter_targets", "incomplete_map", "resize_nearest",
                              "select_one", "box_mask", "min_area_pixels")},
    **{n: "build" for n in ("build_task", "iter_samples", "resolve_protocol", "TaskSample")},
    **{n: "load" for n in ("Task", "load_task", "verify_task", "require_verified")},
    **{n: "scoring" for n in ("evaluate_task", "resolve_task")},
    "task_digest": "digest",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
