"""Datasets, registered by name like models.

A dataset module registers a builder::

    @register_dataset("mnist", input_size=(1, 28, 28), task="classification")
    def mnist(cfg: DataConfig, *, permute: bool = False) -> DataBundle: ...

The builder receives the common settings (root, batch size, split, ...) as a
:class:`~zoo.engine.config.DataConfig` and its own options as keyword arguments;
``zoo.data.build_dataset`` checks those options against its signature. Every
module of this package is imported on first use, so a new dataset is a new
function in a new or existing file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, UnknownNameError, close_matches
from .core import DataBundle, DataInfo, TensorLoader, default_root, split_indices

__all__ = [
    "DataBundle",
    "DataInfo",
    "TensorLoader",
    "DatasetEntry",
    "register_dataset",
    "build_dataset",
    "list_datasets",
    "get_dataset_entry",
    "default_root",
    "split_indices",
]


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    builder: Callable[..., DataBundle]
    task: str
    input_size: tuple[int, ...] | None
    description: str

    @property
    def options(self) -> dict[str, inspect.Parameter]:
        """The builder's own keyword options (everything after ``cfg``)."""
        params = list(inspect.signature(self.builder).parameters.values())[1:]
        return {p.name: p for p in params if p.kind is p.KEYWORD_ONLY}


_DATASETS: dict[str, DatasetEntry] = {}
_LOADED = False
_SKIP_MODULES = {"core"}


def register_dataset(
    name: str, *, task: str = "classification", input_size: tuple[int, ...] | None = None, description: str = ""
) -> Callable[[Callable[..., DataBundle]], Callable[..., DataBundle]]:
    def decorator(fn: Callable[..., DataBundle]) -> Callable[..., DataBundle]:
        if name in _DATASETS and _DATASETS[name].builder is not fn:
            raise ValueError(f"dataset {name!r} is registered twice")
        doc = description or (inspect.getdoc(fn) or "").split("\n")[0]
        _DATASETS[name] = DatasetEntry(name, fn, task, tuple(input_size) if input_size else None, doc)
        return fn

    return decorator


def _load_modules() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _SKIP_MODULES:
            importlib.import_module(f"{__name__}.{info.name}")


def list_datasets(pattern: str | None = None) -> list[str]:
    import fnmatch

    _load_modules()
    return sorted(n for n in _DATASETS if pattern is None or fnmatch.fnmatchcase(n, pattern))


def get_dataset_entry(name: str) -> DatasetEntry:
    _load_modules()
    try:
        return _DATASETS[name]
    except KeyError:
        matches = close_matches(name, _DATASETS)
        hint = f"; did you mean {', '.join(matches)}?" if matches else f"; known: {', '.join(sorted(_DATASETS))}"
        raise UnknownNameError(f"unknown dataset {name!r}{hint}") from None


def check_dataset_options(name: str, options: dict[str, Any]) -> None:
    """Raise a ConfigError naming ``data.<key>`` for an option the dataset lacks."""
    entry = get_dataset_entry(name)
    accepted = entry.options
    for key in options:
        if key not in accepted:
            matches = close_matches(key, accepted)
            hint = (
                f"did you mean {', '.join('data.' + m for m in matches)}?"
                if matches
                else (f"dataset {name!r} takes: {', '.join(accepted)}" if accepted else f"dataset {name!r} takes no options")
            )
            raise ConfigError(f"unknown key data.{key} ({hint})")


def build_dataset(cfg: Any, device: Any = "cpu") -> DataBundle:
    """Build the dataset named by ``cfg.name`` (a :class:`DataConfig`)."""
    entry = get_dataset_entry(cfg.name)
    check_dataset_options(cfg.name, cfg.options)
    bundle = entry.builder(cfg, **cfg.options)
    return bundle.to(device)
