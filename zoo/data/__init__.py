"""Datasets, registered by name like models.

A dataset module registers a builder::

    @register_dataset("mnist", input_size=(1, 28, 28), task="classification")
    def mnist(cfg: DataConfig, *, permute: bool = False) -> DataBundle: ...

The builder receives the common settings (root, batch size, split, ...) as a
:class:`~zoo.engine.config.DataConfig` and its own options as keyword arguments;
``zoo.data.build_dataset`` checks those options against its signature. The
registry is :mod:`zoo.data.registry`; importing this package imports every module
in it, so a new dataset is a new function in a new or existing file.
"""

from __future__ import annotations

import importlib
import pkgutil

from .core import DataBundle, DataInfo, TensorLoader, default_root, split_indices
from .registry import (
    DatasetEntry,
    build_dataset,
    check_dataset_options,
    get_dataset_entry,
    list_datasets,
    register_dataset,
)

__all__ = [
    "DataBundle",
    "DataInfo",
    "TensorLoader",
    "DatasetEntry",
    "register_dataset",
    "build_dataset",
    "list_datasets",
    "get_dataset_entry",
    "check_dataset_options",
    "default_root",
    "split_indices",
]

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
del _info
