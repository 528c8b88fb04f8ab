"""What to compare: the compare config, read into a :class:`CompareSpec` of
:class:`ModelSpec` contestants, and the training config of each (the format is
documented in :mod:`zoo.compare`)."""

from __future__ import annotations

import copy
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.config import load_yaml, merge, parse_overrides
from ..errors import ConfigError, did_you_mean
from ..registry import get_model_entry

__all__ = ["ModelSpec", "CompareSpec", "SHORT_FORM_DEFAULTS", "load_compare_config", "make_spec", "parse_entry",
           "check_models", "positive_budget", "command_line"]

_TOP_KEYS = ("name", "out", "_base_", "data", "budget", "seed", "model", "optim", "sched", "train", "log", "models")
_ENTRY_KEYS = ("name", "model", "kwargs", "optim", "sched", "train", "data", "log")
_SHARED_SECTIONS = ("optim", "sched", "train", "log")
# What a per-model override may not touch: it would make the comparison unfair.
_FAIR_TRAIN = {"seed", "epochs", "max_seconds", "max_steps", "monitor", "mode", "deterministic"}
_MODEL_DATA_KEYS = {"batch_size", "eval_batch_size", "num_workers"}
# With a time budget and no epoch cap, epochs only bound the loop.
_EPOCHS_CAP = 100_000
# The short form's recipe: Adam suits CNNs and RNNs alike without per-model tuning
# (SGD at the engine's lr 0.1 leaves VGG without batch norm stuck at chance).
SHORT_FORM_DEFAULTS: dict[str, dict[str, Any]] = {"optim": {"name": "adam", "lr": 0.001}}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


# ---------------------------------------------------------------------------------
# What to compare
# ---------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    """One contestant: a display name, a registered architecture, its arguments."""

    name: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # section -> keys


@dataclass
class CompareSpec:
    name: str
    data: dict[str, Any]
    models: list[ModelSpec]
    out: Path
    epochs: int | None = None
    seconds: float | None = None
    seed: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # shared optim/sched/train/log
    overrides: list[str] = field(default_factory=list)  # key=value, applied to every model last
    command: str = ""

    def model_config(self, spec: ModelSpec) -> dict[str, Any]:
        """The training config (plain dict) of one contestant."""
        cfg: dict[str, Any] = {"data": copy.deepcopy(self.data)}
        for section in _SHARED_SECTIONS:
            cfg[section] = copy.deepcopy(self.sections.get(section, {}))
        train = cfg["train"]
        if self.seed is not None:
            train["seed"] = self.seed
        if self.epochs is not None or self.seconds is not None:
            train["epochs"] = self.epochs if self.epochs is not None else _EPOCHS_CAP
            train["max_seconds"] = self.seconds
        cfg = merge(cfg, spec.overrides)
        cfg["model"] = {"name": spec.model, **copy.deepcopy(self.model_kwargs), **copy.deepcopy(spec.kwargs)}
        cfg["run"] = {"dir": str(self.out), "name": spec.name}
        if self.overrides:
            over = parse_overrides(self.overrides)
            if "model" in over:
                over["model"].pop("name", None)
            if "run" in over:
                raise ConfigError("run.* cannot be overridden in zoo compare (use --out)")
            cfg = merge(cfg, over)
        return cfg


def parse_entry(item: Any, where: str) -> ModelSpec:
    """One item of a compare config's ``models`` list (``where`` names it in errors)."""
    if isinstance(item, str):
        return ModelSpec(name=item, model=item)
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a model name or a mapping with model/name/kwargs, got {item!r}")
    for key in item:
        if key not in _ENTRY_KEYS:
            hint = did_you_mean(str(key), _ENTRY_KEYS, f"accepted: {', '.join(_ENTRY_KEYS)}", n=1)
            raise ConfigError(f"unknown key {where}.{key} ({hint})")
    model = item.get("model", item.get("name"))
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{where} needs model: a registered model name")
    name = item.get("name", model)
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name must be a string, got {name!r}")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{where}.kwargs must be a mapping of model arguments, got {kwargs!r}")
    overrides: dict[str, dict[str, Any]] = {}
    for section in ("optim", "sched", "train", "data", "log"):
        values = item.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{where}.{section} must be a mapping, got {values!r}")
        for key in values:
            if (section == "train" and key in _FAIR_TRAIN) or (section == "data" and key not in _MODEL_DATA_KEYS):
                raise ConfigError(
                    f"{where}.{section}.{key}: a per-model override may not change the data, split, seed, "
                    "augmentation, budget or monitored metric; set it for all models at the top level")
        overrides[section] = dict(values)
    return ModelSpec(name=name, model=model, kwargs=dict(kwargs), overrides=overrides)


def check_models(models: list[ModelSpec]) -> None:
    """Display names usable as folders, each once; architectures registered."""
    if not models:
        raise ConfigError("zoo compare needs at least one model")
    seen: set[str] = set()
    for spec in models:
        if not _NAME_RE.match(spec.name):
            raise ConfigError(f"model display name {spec.name!r} must be letters, digits and _.+- (it names a folder)")
        if spec.name in seen:
            raise ConfigError(f"model name {spec.name!r} appears twice; give one a display name (name: ...)")
        seen.add(spec.name)
        get_model_entry(spec.model)  # unknown name: one line with close matches


def positive_budget(epochs: Any, seconds: Any, where: str) -> tuple[int | None, float | None]:
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"{where} epochs must be an integer >= 1, got {epochs!r}")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds <= 0):
        raise ConfigError(f"{where} seconds must be a number > 0, got {seconds!r}")
    return epochs, (float(seconds) if seconds is not None else None)


def load_compare_config(path: str | Path) -> CompareSpec:
    """Read a compare YAML (see the module docstring) into a :class:`CompareSpec`."""
    path = Path(path)
    raw = load_yaml(path)
    for key in raw:
        if key not in _TOP_KEYS:
            hint = did_you_mean(str(key), _TOP_KEYS, f"keys: {', '.join(k for k in _TOP_KEYS if k != '_base_')}", n=1)
            raise ConfigError(f"{path}: unknown compare key {key!r} ({hint})")
    data = raw.get("data")
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(f"{path}: data must name a dataset (data: {{name: digits}})")
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError(f"{path}: models must be a non-empty list of model names or entries")
    budget = raw.get("budget") or {}
    if not isinstance(budget, dict) or any(k not in ("epochs", "seconds") for k in budget):
        raise ConfigError(f"{path}: budget must be a mapping with epochs and/or seconds, got {budget!r}")
    epochs, seconds = positive_budget(budget.get("epochs"), budget.get("seconds"), f"{path}: budget")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"{path}: seed must be an integer, got {seed!r}")
    sections = {}
    for section in _SHARED_SECTIONS:
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: {section} must be a mapping, got {values!r}")
        sections[section] = values
    model_kwargs = raw.get("model") or {}
    if not isinstance(model_kwargs, dict) or "name" in model_kwargs:
        raise ConfigError(f"{path}: model holds keyword arguments shared by every model (no name); "
                          "list the models under models:")
    name = str(raw.get("name") or path.stem)
    out = Path(raw["out"]) if raw.get("out") else Path("runs") / "compare" / name
    return CompareSpec(
        name=name, data=dict(data), models=[parse_entry(m, f"models[{i}]") for i, m in enumerate(models)], out=out,
        epochs=epochs, seconds=seconds, seed=seed, model_kwargs=dict(model_kwargs), sections=sections,
    )


def make_spec(
    config: str | Path | None = None,
    *,
    data: str | None = None,
    models: Sequence[str] | None = None,
    epochs: int | None = None,
    seconds: float | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> CompareSpec:
    """The :class:`CompareSpec` of :func:`zoo.compare.compare`'s arguments: a compare
    config with replacements, or the short form (``data`` and ``models``)."""
    epochs, seconds = positive_budget(epochs, seconds, "budget:")
    overrides = list(overrides)
    if config is not None:
        spec = load_compare_config(config)
        if data is not None:
            spec.data["name"] = data
        if models:
            by_name = {m.name: m for m in spec.models}
            missing = [m for m in models if m not in by_name]
            if missing:
                raise ConfigError(f"--models: {', '.join(missing)} not in {config} (its models: {', '.join(by_name)})")
            spec.models = [by_name[m] for m in models]
    else:
        if not data or not models:
            raise ConfigError("zoo compare needs a CONFIG.yaml, or --data NAME and --models M1 M2 ...")
        spec = CompareSpec(name=str(data), data={"name": str(data)}, models=[ModelSpec(m, m) for m in models],
                           out=Path("runs") / "compare" / str(data), sections=copy.deepcopy(SHORT_FORM_DEFAULTS))
    if epochs is not None or seconds is not None:
        spec.epochs, spec.seconds = epochs, seconds
    if out is not None:
        spec.out = Path(out)
    spec.overrides = overrides
    spec.command = command_line(config, data, models, epochs, seconds, out, overrides)
    return spec


def command_line(config: Any, data: Any, models: Any, epochs: Any, seconds: Any, out: Any,
                 overrides: Sequence[str]) -> str:
    """The ``zoo compare`` command line these arguments stand for (results.md shows it)."""
    parts = ["zoo", "compare"]
    if config is not None:
        parts.append(str(config))
    if data is not None:
        parts += ["--data", str(data)]
    if models:
        parts += ["--models", *map(str, models)]
    if epochs is not None:
        parts += ["--epochs", str(epochs)]
    if seconds is not None:
        parts += ["--seconds", f"{seconds:g}"]
    if out is not None:
        parts += ["--out", str(out)]
    parts += list(overrides)
    return shlex.join(parts)
