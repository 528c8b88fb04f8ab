"""The model registry: every architecture in the zoo is built through here.

A model family registers its public builders with :func:`register_model`::

    @register_model(family="lenet", paper="LeCun et al. 1998, ...", input_size=(1, 32, 32),
                    first_conv="features.0", classifier="classifier.5", mean=(0.1307,), std=(0.3081,))
    def lenet5(*, in_chans: int = 1, num_classes: int = 10, **kwargs) -> LeNet5: ...

and users (and the engine) build them by name with :func:`create_model`.
``first_conv`` and ``classifier`` name the modules that pretrained loading adapts
to ``in_chans`` and replaces for ``num_classes``; ``input_size``, ``mean``,
``std``, ``interpolation`` and ``crop_pct`` are the preprocessing of the default
recipe, which :func:`zoo.data_config` reports.
Builders take keyword-only arguments; the registry checks a call against the
builder's signature first, so a typo fails with the accepted names rather than
somewhere deep inside a constructor.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, UnknownNameError, close_matches
from .features import FeatureMaps

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
    # Tags of published weights, filled in by zoo.pretrained from its manifest.
    pretrained_tags: tuple[str, ...] = field(default=())
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


_MODELS: dict[str, ModelEntry] = {}
_LOADED = False


def register_model(
    *,
    family: str,
    paper: str,
    input_size: tuple[int, ...],
    task: str = "classification",
    name: str | None = None,
    first_conv: str | None = None,
    classifier: str | tuple[str, ...] | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    interpolation: str | None = None,
    crop_pct: float | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class or function decorator that registers a model builder under its name.

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
            key, fn, family, paper, tuple(input_size), task, first_conv=first_conv, classifier=heads,
            mean=tuple(mean) if mean is not None else None, std=tuple(std) if std is not None else None,
            interpolation=interpolation, crop_pct=crop_pct,
        )
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
    if "." in name and name not in _MODELS:
        # timm-style "resnet20.cifar10": the tag travels in the name.
        name, tag = name.split(".", 1)
        if pretrained in (None, True):
            pretrained = tag if pretrained else None
    entry = get_model_entry(name)
    if pretrained:
        from .pretrained import load_pretrained

        model = load_pretrained(entry, pretrained, num_classes=num_classes, in_chans=in_chans, **kwargs)
    else:
        model = _build(entry, num_classes=num_classes, in_chans=in_chans, **kwargs)
    if features_only:
        model = FeatureMaps(model, out_indices)
    elif out_indices is not None:
        raise ConfigError("out_indices applies with features_only=True")
    return model


def _build(entry: ModelEntry, *, num_classes: int | None, in_chans: int | None, **kwargs: Any) -> nn.Module:
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    _check_kwargs(entry, kwargs)
    # num_classes=0 is timm's "no head": build the default head, then remove it.
    headless = num_classes == 0
    try:
        model = entry.builder(**{k: v for k, v in kwargs.items() if not (headless and k == "num_classes")})
        if headless:
            if not hasattr(model, "reset_classifier"):
                raise ValueError("num_classes=0 removes the classifier, and this model has none")
            model.reset_classifier(0)
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
    """Family, paper, default input size, task and parameter count at defaults."""
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
    }


def _published_tags(name: str) -> list[str]:
    try:
        from .pretrained import published_names
    except ImportError:  # before the pretrained module exists
        return []
    return [n.split(".", 1)[1] for n in published_names() if n.split(".", 1)[0] == name]
