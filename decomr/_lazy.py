"""Lazy package exports: ``from decomr.data import SyntheticDataset`` imports only the module that defines it."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, namespace: dict[str, Any], exports: dict[str, tuple[str, ...]]
                 ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """Build ``__all__``, ``__getattr__`` and ``__dir__`` for a package.

    Args:
        package: the package's name (for error messages).
        namespace: the package's ``globals()`` (resolved names are cached there).
        exports: module name -> public names it defines.

    Returns:
        (__all__, __getattr__, __dir__).
    """
    table = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in table:
            value = getattr(importlib.import_module(table[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(list(namespace) + list(table))

    return sorted(table), __getattr__, __dir__
