"""Validity study of Sem (issue #10, part 1): does Sem measure semantics?

Modules: :mod:`.stats` (ROC AUC, bootstrap), :mod:`.shapes` (held-out shape sets, boxes, resizing),
:mod:`.transforms` (Fig. 6 transforms), :mod:`.fig6` (transform study), :mod:`.latent_gt`
(latent-ground-truth pairs and :func:`~.latent_gt.latent_gt_auc`), :mod:`.reliability` (per-class
reliability), :mod:`.report` (Markdown and figures), :mod:`.run_validity` (the one command).

Only the public top-level ``sem_metric`` API is used (plus ``ShapeBank`` to load banks).
"""
