"""The preprocessing a model or a checkpoint expects: ``zoo.data_config``.

A model entry declares the input of its default recipe (``register_model(
input_size=..., mean=..., std=..., interpolation=..., crop_pct=...)``); a
checkpoint records the input size and normalization of the data it was trained
on. :func:`data_config` prefers the checkpoint's, as timm's
``resolve_data_config`` prefers a pretrained config over the defaults.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .checkpoint import read_metadata
from .errors import ConfigError
from .pretrained import published_file
from .registry import get_model_entry

__all__ = ["data_config"]


def data_config(model_or_name: nn.Module | str) -> dict[str, Any]:
    """``input_size``, ``mean``, ``std``, ``interpolation`` and ``crop_pct`` for a model.

    ``model_or_name`` is a model built by :func:`zoo.create_model` or
    :func:`zoo.load_checkpoint` (its checkpoint's metadata wins over the entry's
    defaults), a registered name (``"resnet50"``: the entry's defaults) or the name of
    published weights (``"lenet5.mnist"``: what they were trained with).

    ``input_size`` is ``(C, H, W)`` for images (``(T, F)`` for feature sequences,
    ``(T,)`` for tokens); ``mean``/``std`` are per channel on the 0..1 scale, or
    ``None`` where the input is not normalized images (tokens). ``interpolation`` and
    ``crop_pct`` (resize the shorter side to ``H / crop_pct``, then centre-crop
    ``H x W``) are set for the 224 px ImageNet designs and ``None`` where images are
    fed whole (MNIST, CIFAR). A model whose ``in_chans`` differs from the statistics'
    channels gets them adapted as its first convolution is: averaged to one channel,
    repeated cyclically to more.
    """
    if isinstance(model_or_name, str):
        name, meta = _name_and_meta(model_or_name)
        kwargs = dict(meta.get("model_kwargs") or {})
    elif isinstance(model_or_name, nn.Module):
        config = getattr(model_or_name, "zoo_config", None)
        if not config:
            raise ConfigError("data_config needs a model built by zoo.create_model or zoo.load_checkpoint")
        name, kwargs = config["name"], dict(config["kwargs"])
        meta = dict(getattr(model_or_name, "zoo_meta", None) or {})
    else:
        raise ConfigError(f"data_config takes a model or a name, got {type(model_or_name).__name__}")
    entry = get_model_entry(name)

    input_size = tuple(meta.get("input_size") or entry.input_size)
    mean, std = meta.get("mean") or entry.mean, meta.get("std") or entry.std
    # The entry's resize and crop describe its own input size only (not CIFAR-sized data).
    resized = input_size[1:] == entry.input_size[1:]
    config = {
        "input_size": input_size,
        "mean": tuple(mean) if mean is not None else None,
        "std": tuple(std) if std is not None else None,
        "interpolation": entry.interpolation if resized else None,
        "crop_pct": entry.crop_pct if resized else None,
    }
    in_chans = kwargs.get("in_chans", entry.defaults().get("in_chans"))
    if in_chans is not None and len(input_size) == 3:
        config["input_size"] = (int(in_chans), *input_size[1:])
        if mean is not None:
            config["mean"], config["std"] = _per_channel(mean, in_chans), _per_channel(std, in_chans)
    return config


def _name_and_meta(name: str) -> tuple[str, dict[str, Any]]:
    """A registered name with no metadata, or published weights with theirs."""
    if "." in name:  # unknown weights fail in published_file, with close matches
        return name.split(".", 1)[0], read_metadata(published_file(name))
    return name, {}


def _per_channel(values: Any, channels: int) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) == channels:
        return values
    if channels == 1:
        return (round(sum(values) / len(values), 4),)
    return tuple(values[i % len(values)] for i in range(channels))
