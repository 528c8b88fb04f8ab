"""The model registry: every architecture in the zoo is registered, looked up and
listed here.

A model family registers its public builders with :func:`register_model`::

    @register_model(family="lenet", paper="LeCun et al. 1998, ...", input_size=(1, 32, 32))
    def lenet5(*, in_chans: int = 1, num_classes: int = 10, **kwargs) -> LeNet5: ...

and users (and the engine) build them by name with :func:`zoo.create_model`
(:mod:`zoo.factory`, which adds pretrained weights). Builders take keyword-only
arguments; :meth:`ModelEntry.build` checks a call against the builder's
signature first, so a typo fails with the accepted names rather than somewhere
deep inside a constructor.

The registry imports no model: each family module registers itself when
imported, and importing :mod:`zoo.models` (which ``import zoo`` does) imports
every family module. So the registry sits below the models and a new family is
a new file.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, UnknownNameError, did_you_mean
from .manifest import published_names, published_tags

__all__ = [
    "ModelEntry",
    "register_model",
    "list_models",
    "model_info",
    "get_model_entry",
    "is_registered",
    "model_accepts",
    "count_parameters",
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

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.builder).parameters)

    def accepts(self, kwarg: str) -> bool:
        params = self.parameters
        return kwarg in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.parameters.items() if p.default is not inspect.Parameter.empty}

    def build(self, **kwargs: Any) -> nn.Module:
        """The builder called with ``kwargs`` (checked against its signature first),
        randomly initialized; ``model.zoo_config`` records what rebuilds it."""
        self._check_kwargs(kwargs)
        try:
            model = self.builder(**kwargs)
        except (ValueError, TypeError) as exc:
            # Builders validate their arguments with ValueError; say which model.
            raise ConfigError(f"model {self.name!r}: {exc}") from exc
        # Saved into checkpoints by zoo.save_checkpoint.
        model.zoo_config = {"name": self.name, "kwargs": _jsonable(kwargs)}
        return model

    def _check_kwargs(self, kwargs: dict[str, Any]) -> None:
        params = self.parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        accepted = [k for k, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for key in kwargs:
            if key not in params:
                hint = did_you_mean(key, accepted, f"accepted: {', '.join(accepted)}")
                raise ConfigError(f"model {self.name!r} has no argument {key!r} ({hint})")


_MODELS: dict[str, ModelEntry] = {}


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


def get_model_entry(name: str) -> ModelEntry:
    try:
        return _MODELS[name]
    except KeyError:
        hint = did_you_mean(name, _MODELS, "see `zoo list`")
        raise UnknownNameError(f"unknown model {name!r}; {hint}") from None


def is_registered(name: str) -> bool:
    return name in _MODELS


def list_models(pattern: str | None = None, *, pretrained: bool = False) -> list[str]:
    """Sorted names of registered models, optionally filtered by an fnmatch pattern.

    With ``pretrained=True`` the list holds the published weights instead, as
    ``model.tag`` names (``lenet5.mnist``).
    """
    if pretrained:
        names = published_names()
    else:
        names = list(_MODELS)
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return sorted(names)


def model_accepts(name: str, kwarg: str) -> bool:
    """Whether the builder of ``name`` takes the keyword argument ``kwarg``."""
    return get_model_entry(name).accepts(kwarg)


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
        "pretrained": [f"{entry.name}.{t}" for t in published_tags(entry.name)],
        "notes": entry.notes,
    }

