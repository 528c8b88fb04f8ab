"""Feature maps of a CNN: ``create_model(name, features_only=True, out_indices=...)``.

Every CNN of the zoo lists its feature levels in ``model.feature_info``, as timm's
models do: one dict per level, in forward order, with

* ``num_chs``: the channels of the map,
* ``reduction``: its stride, the product of the strides before it (the input
  size over the map size, up to the border that unpadded convolutions trim),
* ``module``: the name of the module whose output it is.

:class:`FeatureMaps` turns such a model into one that returns the maps of the
chosen levels, a list of tensors. It is built with torchvision's
``create_feature_extractor`` (torch.fx), which traces the model's own forward
and drops every layer after the last level asked for, so the head costs
nothing and has no parameters left to train.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from torch import Tensor, nn

from .errors import ConfigError

__all__ = ["FeatureInfo", "FeatureMaps"]


class FeatureInfo:
    """The levels a :class:`FeatureMaps` returns, in order.

    Indexing gives each level's dict (``num_chs``, ``reduction``, ``module``,
    ``index``: its position in the model's full ``feature_info``); ``channels()``,
    ``reduction()`` and ``module_name()`` give one field of every level as a list.
    """

    def __init__(self, levels: Sequence[dict[str, Any]]) -> None:
        self._levels = [dict(level) for level in levels]

    def channels(self) -> list[int]:
        return [level["num_chs"] for level in self._levels]

    def reduction(self) -> list[int]:
        return [level["reduction"] for level in self._levels]

    def module_name(self) -> list[str]:
        return [level["module"] for level in self._levels]

    def __getitem__(self, i: int) -> dict[str, Any]:
        return dict(self._levels[i])

    def __len__(self) -> int:
        return len(self._levels)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (dict(level) for level in self._levels)

    def __repr__(self) -> str:
        return f"FeatureInfo({self._levels})"


class FeatureMaps(nn.Module):
    """``forward(x) -> list[Tensor]``: the feature maps of ``model`` at ``out_indices``.

    ``out_indices`` index ``model.feature_info`` (negative from the end); by default
    every level is returned. The traced body keeps the model's parameter names
    under ``body.`` (``body.layer1.0.conv1.weight``).
    """

    def __init__(self, model: nn.Module, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        levels = getattr(model, "feature_info", None)
        name = (getattr(model, "zoo_config", None) or {}).get("name", type(model).__name__)
        if not levels:
            raise ConfigError(f"{name} has no feature maps to return (features_only needs a CNN with feature_info)")
        n = len(levels)
        indices = list(range(n)) if out_indices is None else [int(i) for i in out_indices]
        if not indices or any(not -n <= i < n for i in indices):
            raise ConfigError(f"out_indices {list(out_indices or [])} out of range for {name}: it has {n} feature "
                              f"levels, 0..{n - 1} ({', '.join(level['module'] for level in levels)})")
        indices = [i % n for i in indices]
        if len(set(indices)) != len(indices) or indices != sorted(indices):
            raise ConfigError(f"out_indices must be distinct and in forward order, got {list(out_indices or [])}")

        # torchvision imports in seconds; only feature extraction needs it.
        from torchvision.models.feature_extraction import create_feature_extractor

        self.feature_info = FeatureInfo([{**levels[i], "index": i} for i in indices])
        modules = [levels[i]["module"] for i in indices]
        with warnings.catch_warnings():
            # It notes that train mode traces more nodes (GoogLeNet's auxiliary heads): not ours to choose.
            warnings.filterwarnings("ignore", message=".*tracing the model in eval mode", category=UserWarning)
            self.body = create_feature_extractor(
                model, {m: str(i) for m, i in zip(modules, indices)},
                tracer_kwargs={"leaf_modules": _leaf_types(model, modules)},
            )
        config = getattr(model, "zoo_config", None)
        if config is not None:
            kwargs = {**config["kwargs"], "features_only": True, "out_indices": indices}
            self.zoo_config = {"name": config["name"], "kwargs": kwargs}
        if hasattr(model, "zoo_meta"):
            self.zoo_meta = model.zoo_meta

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.body(x).values())


def _leaf_types(model: nn.Module, modules: list[str]) -> list[type[nn.Module]]:
    """Module classes the tracer may call whole instead of tracing through.

    Only a module that holds a level must be traced into; any other is one node
    of the graph. The tracer takes classes, so a class is a leaf unless one of its
    instances holds a level (VGG's ``features`` Sequential). This cuts a
    ResNet-152 from about a thousand traced operations to a dozen (and its
    tracing from seconds to milliseconds).
    """
    holders = {name for m in modules for name in _ancestors(m)}
    inner = {type(mod) for name, mod in model.named_modules() if name in holders}
    return sorted({type(mod) for name, mod in model.named_modules() if name not in holders} - inner,
                  key=lambda t: t.__qualname__)


def _ancestors(name: str) -> list[str]:
    """``"layer1.0.conv1"`` -> ``["", "layer1", "layer1.0"]``: the modules that hold it."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts))]

