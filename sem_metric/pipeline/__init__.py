"""The evaluation pipeline: read and pair files (:mod:`.io`), evaluate and check (:mod:`.evaluate`,
:mod:`.checks`), format and write (:mod:`.report`); ``sem_metric.cli`` is its command line.

Nothing is imported here (submodules load on use).
"""
