"""``create_model``: a registered architecture by name, randomly initialized or with
pretrained weights.

This is the registry's front door. It sits above the registry (names), the
checkpoint formats and :mod:`zoo.pretrained` (weights from a source), and below
the engine, which builds every model through it. Importing it imports
:mod:`zoo.models`, so every family is registered by the time a name is looked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from . import models  # noqa: F401  (importing the package registers every family)
from .errors import ConfigError
from .features import FeatureMaps
from .pretrained import load_pretrained
from .registry import get_model_entry, is_registered

__all__ = ["create_model"]


def create_model(
    name: str,
    *,
    pretrained: bool | str | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a registered name (``zoo list``), or ``model.tag`` for published weights.
        pretrained: ``None``/``False`` for random init; a published tag, ``True`` (with
            ``model.tag`` names), ``"torchvision"``, a local file or an URL (see
            :mod:`zoo.pretrained`).
        num_classes: output classes; a pretrained head of another size is replaced.
            ``0`` removes the head (``reset_classifier(0)``): the model returns the
            pooled features, as in timm.
        in_chans: input channels; a pretrained first conv is adapted.
        features_only: return a :class:`zoo.features.FeatureMaps` instead, whose
            forward gives the list of feature maps at ``out_indices`` (default: every
            level of the model's ``feature_info``), described by its ``feature_info``.
        **kwargs: the builder's own keyword arguments.
    """
    if out_indices is not None and not features_only:
        raise ConfigError("out_indices applies with features_only=True")
    if "." in name and not is_registered(name):
        # timm-style "resnet20.cifar10": the tag travels in the name.
        name, tag = name.split(".", 1)
        if pretrained in (None, True):
            pretrained = tag if pretrained else None
    entry = get_model_entry(name)
    if pretrained:
        model = load_pretrained(entry, pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs)
    else:
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        if in_chans is not None:
            kwargs["in_chans"] = in_chans
        model = entry.build(**kwargs)
    return FeatureMaps(model, out_indices) if features_only else model
