"""numpy on first use: the registry declares states (:mod:`sem_metric.engine.states`) without importing it."""
import importlib
from typing import Any


class _Lazy:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


np: Any = _Lazy("numpy")
