"""Modules imported on first use, so ``import main`` loads only the registry and the SDK."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module ``name`` and imports it on the first attribute read (the import
    system's own locks make concurrent first reads safe)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)


def lazy_module(name: str) -> Any:
    """A stand-in for module ``name`` that imports it when first used."""
    return LazyModule(name)
