"""The dataset registry: builders registered, looked up and listed by name.

It imports no dataset: each dataset module registers its builders when imported,
and importing :mod:`zoo.data` imports every module of the package.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, UnknownNameError, did_you_mean
from .core import DataBundle

__all__ = ["DatasetEntry", "register_dataset", "list_datasets", "get_dataset_entry", "check_dataset_options",
           "build_dataset"]


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


def list_datasets(pattern: str | None = None) -> list[str]:
    return sorted(n for n in _DATASETS if pattern is None or fnmatch.fnmatchcase(n, pattern))


def get_dataset_entry(name: str) -> DatasetEntry:
    try:
        return _DATASETS[name]
    except KeyError:
        hint = did_you_mean(name, _DATASETS, f"known: {', '.join(sorted(_DATASETS))}")
        raise UnknownNameError(f"unknown dataset {name!r}; {hint}") from None


def check_dataset_options(name: str, options: dict[str, Any]) -> None:
    """Raise a ConfigError naming ``data.<key>`` for an option the dataset lacks."""
    entry = get_dataset_entry(name)
    accepted = entry.options
    for key in options:
        if key not in accepted:
            takes = f"dataset {name!r} takes: {', '.join(accepted)}" if accepted else f"dataset {name!r} takes no options"
            hint = did_you_mean(key, accepted, takes, prefix="data.")
            raise ConfigError(f"unknown key data.{key} ({hint})")


def build_dataset(cfg: Any, device: Any = "cpu") -> DataBundle:
    """Build the dataset named by ``cfg.name`` (a :class:`DataConfig`)."""
    entry = get_dataset_entry(cfg.name)
    check_dataset_options(cfg.name, cfg.options)
    bundle = entry.builder(cfg, **cfg.options)
    return bundle.to(device)
