"""The model registry: every architecture in the zoo is built through here.

A model family registers its public builders with :func:`register_model`::

    @register_model(family="lenet", paper="LeCun et al. 1998, ...", input_size=(1, 32, 32))
    def lenet5(*, in_chans: int = 1, num_classes: int = 10, **kwargs) -> LeNet5: ...

and users (and the engine) build them by name with :func:`create_model`.
Builders take keyword-only arguments; the registry checks a call against the
builder's signature first, so a typo fails with the accepted names rather than
somewhere deep inside a constructor.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, UnknownNameError, close_matches

__all__ = [
    "ModelEntry",
    "register_model",
    "create_model",
    "list_models",
    "model_info",
    "get_model_entry",
    "model_accepts",
]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    family: str
    paper: str
    input_size: tuple[int, ...]
    task: str
    # How the entry departs from its twin (a paper-faithful variant and the modern reading).
    notes: str = ""
    # Tags of published weights, filled in by zoo.pretrained from its manifest.
    pretrained_tags: tuple[str, ...] = field(default=())

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.builder).parameters)

    def accepts(self, kwarg: str) -> bool:
        params = self.parameters
        return kwarg in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.parameters.items() if p.default is not inspect.Parameter.empty}


_MODELS: dict[str, ModelEntry] = {}
_LOADED = False


def register_model(
    *,
    family: str,
    paper: str,
    input_size: tuple[int, ...],
    task: str = "classification",
    name: str | None = None,
    notes: str = "",
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class or function decorator that registers a model builder under its name.

    ``notes`` is a short text for ``zoo info``: what sets the entry apart from its twin.
    """

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or fn.__name__
        if key in _MODELS and _MODELS[key].builder is not fn:
            raise ValueError(f"model {key!r} is registered twice")
        _MODELS[key] = ModelEntry(key, fn, family, paper, tuple(input_size), task, notes)
        return fn

    return decorator


def _load_families() -> None:
    """Import every module of ``zoo.models`` so that their builders register.

    Discovery by package walk means adding a family is adding a file.
    """
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import models

    for info in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"{models.__name__}.{info.name}")


def get_model_entry(name: str) -> ModelEntry:
    _load_families()
    try:
        return _MODELS[name]
    except KeyError:
        matches = close_matches(name, _MODELS)
        hint = f"; did you mean {', '.join(matches)}?" if matches else "; see `zoo list`"
        raise UnknownNameError(f"unknown model {name!r}{hint}") from None


def list_models(pattern: str | None = None, *, pretrained: bool = False) -> list[str]:
    """Sorted names of registered models, optionally filtered by an fnmatch pattern.

    With ``pretrained=True`` the list holds the published weights instead, as
    ``model.tag`` names (``lenet5.mnist``).
    """
    _load_families()
    if pretrained:
        from .pretrained import published_names

        names = published_names()
    else:
        names = list(_MODELS)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return sorted(names)


def model_accepts(name: str, kwarg: str) -> bool:
    """Whether the builder of ``name`` takes the keyword argument ``kwarg``."""
    return get_model_entry(name).accepts(kwarg)


def _check_kwargs(entry: ModelEntry, kwargs: dict[str, Any]) -> None:
    params = entry.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [k for k, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for key in kwargs:
        if key not in params:
            matches = close_matches(key, accepted)
            hint = f"did you mean {', '.join(matches)}?" if matches else f"accepted: {', '.join(accepted)}"
            raise ConfigError(f"model {entry.name!r} has no argument {key!r} ({hint})")


def create_model(
    name: str,
    *,
    pretrained: bool | str | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a registered name (``zoo list``), or ``model.tag`` for published weights.
        pretrained: ``None``/``False`` for random init; a published tag, ``True`` (with
            ``model.tag`` names), ``"torchvision"``, a local file or an URL (see
            :mod:`zoo.pretrained`).
        num_classes: output classes; a pretrained head of another size is replaced.
        in_chans: input channels; a pretrained first conv is adapted.
        **kwargs: the builder's own keyword arguments.
    """
    if "." in name and name not in _MODELS:
        # timm-style "resnet20.cifar10": the tag travels in the name.
        name, tag = name.split(".", 1)
        if pretrained in (None, True):
            pretrained = tag if pretrained else None
    entry = get_model_entry(name)
    if pretrained:
        from .pretrained import load_pretrained

        return load_pretrained(entry, pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    _check_kwargs(entry, kwargs)
    try:
        model = entry.builder(**kwargs)
    except (ValueError, TypeError) as exc:
        # Builders validate their arguments with ValueError; say which model.
        raise ConfigError(f"model {entry.name!r}: {exc}") from exc
    # What rebuilds this architecture: saved into checkpoints by zoo.save_checkpoint.
    model.zoo_config = {"name": entry.name, "kwargs": _jsonable(kwargs)}
    return model


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_info(name: str) -> dict[str, Any]:
    """Family, paper, default input size, task, parameter count at defaults, and the
    entry's notes (how it differs from its twin; empty for most)."""
    entry = get_model_entry(name)
    # The meta device allocates no storage, so even VGG-19 costs nothing to count.
    with torch.device("meta"):
        model = entry.builder()
    return {
        "name": entry.name,
        "family": entry.family,
        "paper": entry.paper,
        "input_size": list(entry.input_size),
        "task": entry.task,
        "params": count_parameters(model),
        "defaults": {k: v for k, v in entry.defaults().items()},
        "pretrained": [f"{entry.name}.{t}" for t in _published_tags(entry.name)],
        "notes": entry.notes,
    }


def _published_tags(name: str) -> list[str]:
    try:
        from .pretrained import published_names
    except ImportError:  # before the pretrained module exists
        return []
    return [n.split(".", 1)[1] for n in published_names() if n.split(".", 1)[0] == name]
