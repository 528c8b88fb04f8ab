"""torch.hub entry points: one per registered model, plus one per published weights.

    >>> import torch
    >>> model = torch.hub.load("path/to/zoo", "resnet18", source="local", pretrained="torchvision")
    >>> model = torch.hub.load("path/to/zoo", "lenet5", source="local", pretrained="mnist")
    >>> model = torch.hub.load("path/to/zoo", "lenet5.mnist", source="local")  # the weights in the name

Every entry takes the arguments of :func:`zoo.create_model`: ``pretrained``
(``None``/``False``, ``True``, a published tag, ``"torchvision"``, a file or
``URL#sha256=<hex>``), ``num_classes``, ``in_chans`` and the model's own keyword
arguments. The entry points are generated from the registry, so a model added to
the zoo is a hub entry without an edit here.
"""

from __future__ import annotations

import os as _os
import sys as _sys
from typing import Any as _Any

dependencies = ["torch", "torchvision", "yaml", "safetensors", "numpy"]

# torch.hub puts the repository on sys.path; make sure this clone's zoo wins.
_here = _os.path.dirname(_os.path.abspath(__file__))
if _here not in _sys.path:
    _sys.path.insert(0, _here)

from zoo.pretrained import published as _published  # noqa: E402
from zoo.factory import create_model as _create_model  # noqa: E402
from zoo.registry import get_model_entry as _get_model_entry  # noqa: E402
from zoo.registry import list_models as _list_models  # noqa: E402


def _entry_point(name: str):
    entry = _get_model_entry(name)

    def build(pretrained: _Any = None, **kwargs: _Any):
        return _create_model(name, pretrained=pretrained or None, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"{name}: {entry.family} family ({entry.paper}); input {'x'.join(map(str, entry.input_size))}.\n\n"
                     "Arguments as zoo.create_model: pretrained, num_classes, in_chans, model keyword arguments.")
    return build


def _published_entry_point(name: str, record: dict):
    model, tag = name.split(".", 1)

    def build(pretrained: _Any = True, **kwargs: _Any):
        return _create_model(model, pretrained=tag if pretrained is True else (pretrained or None), **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"{model} with the zoo's published {tag!r} weights: {record['metric']} {record['value']} "
                     f"on {record['dataset']}.")
    return build


for _name in _list_models():
    globals()[_name] = _entry_point(_name)
# "lenet5.mnist" is no Python identifier, but torch.hub.load looks entries up with getattr.
for _name, _record in _published().items():
    globals()[_name] = _published_entry_point(_name, _record)
