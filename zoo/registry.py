"""The model registry: every architecture in the zoo is registered, looked up and
listed here.

A model family registers its public builders with :func:`register_model`::

    @register_model(family="lenet", paper="LeCun et al. 1998, ...", input_size=(1, 32, 32),
                    first_conv="features.0", classifier="classifier.5", mean=(0.1307,), std=(0.3081,))
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

``first_conv`` and ``classifier`` name the modules that pretrained loading adapts
to ``in_chans`` and replaces for ``num_classes``; ``input_size``, ``mean``,
``std``, ``interpolation`` and ``crop_pct`` are the preprocessing of the default
recipe, which :func:`zoo.data_config` reports.
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
    # The module whose weight takes the input channels, and the classifier layer(s)
    # that map features to classes (GoogLeNet has three: fc and two auxiliary heads).
    first_conv: str | None = None
    classifier: tuple[str, ...] = ()
    # Preprocessing of the default recipe: normalization and, for the 224 px
    # ImageNet designs, how an image is resized and centre-cropped to input_size.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None
    crop_pct: float | None = None

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
        # num_classes=0 is timm's "no head": build the default head, then remove it.
        headless = kwargs.get("num_classes") == 0
        try:
            model = self.builder(**{k: v for k, v in kwargs.items() if not (headless and k == "num_classes")})
            if headless:
                if not hasattr(model, "reset_classifier"):
                    raise ValueError("num_classes=0 removes the classifier, and this model has none")
                model.reset_classifier(0)
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
    first_conv: str | None = None,
    classifier: str | tuple[str, ...] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    interpolation: str | None = None,
    crop_pct: float | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class or function decorator that registers a model builder under its name.

    ``notes`` is a short text for ``zoo info``: what sets the entry apart from its twin.
    ``first_conv``: module name of the first convolution (``"conv1"``), whose
    weight pretrained loading adapts to another ``in_chans``. ``classifier``: the
    module name(s) of the final classifier layer(s) (``"fc"``), re-initialized for
    another ``num_classes``. ``mean``/``std`` (per channel, 0..1 scale),
    ``interpolation`` (``"bilinear"``) and ``crop_pct`` (resize to
    ``input_size / crop_pct``, then centre-crop) describe the expected input.
    """
    if (mean is None) != (std is None) or (mean is not None and len(mean) != len(std or ())):
        raise ValueError("register_model: mean and std go together, one value per channel")
    heads = (classifier,) if isinstance(classifier, str) else tuple(classifier or ())

    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or fn.__name__
        if key in _MODELS and _MODELS[key].builder is not fn:
            raise ValueError(f"model {key!r} is registered twice")
        _MODELS[key] = ModelEntry(
            key, fn, family, paper, tuple(input_size), task, notes=notes, first_conv=first_conv, classifier=heads,
            mean=tuple(mean) if mean is not None else None, std=tuple(std) if std is not None else None,
            interpolation=interpolation, crop_pct=crop_pct,
        )
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

