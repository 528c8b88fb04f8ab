"""The typed config: YAML in, validated dataclasses out.

A config has the sections ``model``, ``data``, ``optim``, ``sched``, ``train``,
``log`` and ``run``. ``model`` holds ``name`` plus the builder's keyword
arguments, ``data`` holds the common data keys plus the dataset's own options;
every other section has a fixed set of typed keys. A config may start from
another with ``_base_: other.yaml`` (a path relative to the file, or a list of
them, merged in order), and command-line overrides ``section.key=value`` are
parsed as YAML scalars and applied last.

Every problem is a :class:`~zoo.errors.ConfigError` whose message names the key,
what was expected and what was given, and suggests close matches for typos.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..data.core import default_root
from ..errors import ConfigError, did_you_mean, first_line

__all__ = [
    "merge",
    "load_yaml",
    "Config",
    "ModelConfig",
    "DataConfig",
    "OptimConfig",
    "SchedConfig",
    "TrainConfig",
    "LogConfig",
    "RunConfig",
    "load_config",
    "parse_overrides",
    "config_from_dict",
]


def _range(**bounds: float) -> dict[str, Any]:
    return {"range": bounds}


@dataclass
class ModelConfig:
    name: str = "lenet5"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.kwargs}


@dataclass
class DataConfig:
    name: str = "digits"
    root: str | None = None  # folder holding each dataset's folder; default $ZOO_DATA or ~/.cache/zoo/data
    download: bool = False
    batch_size: int = field(default=128, metadata=_range(ge=1))
    eval_batch_size: int | None = field(default=None, metadata=_range(ge=1))
    num_workers: int = field(default=0, metadata=_range(ge=0))
    val_split: float = field(default=0.0, metadata=_range(ge=0, lt=1))
    split_seed: int = 0
    augment: bool = True
    seed: int | None = None  # shuffling/augmentation seed; defaults to train.seed
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "options"}
        return {**d, **self.options}

    @property
    def root_path(self) -> Path:
        return Path(self.root).expanduser() if self.root else default_root()


@dataclass
class OptimConfig:
    name: Literal["sgd", "adam", "adamw", "rmsprop", "adadelta"] = "sgd"
    lr: float = field(default=0.1, metadata=_range(gt=0))
    momentum: float = field(default=0.9, metadata=_range(ge=0, lt=1))
    nesterov: bool = False
    weight_decay: float = field(default=0.0, metadata=_range(ge=0))
    no_decay_norm_bias: bool = False  # no weight decay on normalization weights and biases
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = field(default=1e-8, metadata=_range(gt=0))
    alpha: float = field(default=0.99, metadata=_range(gt=0, lt=1))  # RMSprop smoothing
    rho: float = field(default=0.9, metadata=_range(gt=0, lt=1))  # Adadelta smoothing (Kim 2014: 0.95, lr 1.0)


@dataclass
class SchedConfig:
    name: Literal["none", "step", "multistep", "cosine", "onecycle"] = "none"
    unit: Literal["epoch", "step"] = "epoch"  # unit of step_size and milestones
    step_size: int = field(default=30, metadata=_range(ge=1))
    milestones: list[int] = field(default_factory=list)
    gamma: float = field(default=0.1, metadata=_range(gt=0))
    min_lr: float = field(default=0.0, metadata=_range(ge=0))  # cosine floor
    max_lr: float | None = field(default=None, metadata=_range(gt=0))  # onecycle peak; default optim.lr
    pct_start: float = field(default=0.3, metadata=_range(gt=0, lt=1))
    warmup_epochs: float = field(default=0.0, metadata=_range(ge=0))
    warmup_steps: int = field(default=0, metadata=_range(ge=0))


@dataclass
class TrainConfig:
    epochs: int = field(default=10, metadata=_range(ge=0))  # 0: evaluate the untrained model (a baseline)
    max_steps: int | None = field(default=None, metadata=_range(ge=1))  # stop after this many optimizer steps
    max_seconds: float | None = field(default=None, metadata=_range(gt=0))  # wall-clock training budget
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    deterministic: bool = False
    # torch CPU threads: auto (the cores free at start), a number, or null (torch's default)
    threads: int | Literal["auto"] | None = field(default="auto", metadata=_range(ge=1))
    amp: Literal["off", "bf16", "fp16"] = "off"
    # torch.compile: true (its default mode) or a mode; "reduce-overhead" replays each step
    # as CUDA graphs, meant for small models whose GPU steps are launch-bound
    compile: bool | Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = False
    channels_last: bool = False
    grad_clip_norm: float | None = field(default=None, metadata=_range(gt=0))
    grad_clip_value: float | None = field(default=None, metadata=_range(gt=0))
    label_smoothing: float = field(default=0.0, metadata=_range(ge=0, lt=1))
    accum_steps: int = field(default=1, metadata=_range(ge=1))
    aux_weight: float = field(default=0.3, metadata=_range(ge=0))  # auxiliary heads (GoogLeNet)
    ckpt_every_steps: int = field(default=0, metadata=_range(ge=0))
    keep_last: int = field(default=0, metadata=_range(ge=0))  # numbered snapshots kept beside last.ckpt
    monitor: str = "auto"  # metric for best.safetensors and early stopping; auto: acc1 or loss
    mode: Literal["auto", "max", "min"] = "auto"
    patience: int = field(default=0, metadata=_range(ge=0))  # early stopping; 0 = off
    restore_best: bool = False  # test the weights of the best monitored epoch, not the last (Kim 2014's dev selection)
    eval_every: int = field(default=1, metadata=_range(ge=1))


@dataclass
class LogConfig:
    progress: Literal["auto", "bar", "lines", "off"] = "auto"
    every_steps: int = field(default=50, metadata=_range(ge=1))  # plain-line period when not a terminal
    tensorboard: bool = False


@dataclass
class RunConfig:
    dir: str = "runs"
    name: str | None = None  # default: <model>_<dataset>


_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "sched": SchedConfig,
    "train": TrainConfig,
    "log": LogConfig,
    "run": RunConfig,
}
# Sections whose unknown keys are handed on (model kwargs, dataset options) and
# checked later against the builder's signature.
_OPEN_SECTIONS = {"model": "kwargs", "data": "options"}


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sched: SchedConfig = field(default_factory=SchedConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _SECTIONS:
            section = getattr(self, name)
            if hasattr(section, "to_dict"):
                out[name] = section.to_dict()
            else:
                out[name] = {f.name: _plain(getattr(section, f.name)) for f in dataclasses.fields(section)}
        return _plain(out)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def run_name(self) -> str:
        return self.run.name or f"{self.model.name}_{self.data.name}"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------------
# Reading YAML
# ---------------------------------------------------------------------------------
def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if path.is_dir():
        raise ConfigError(f"config path is a directory, not a YAML file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or first_line(exc)
        if "python/" in str(exc):
            problem = f"unsafe YAML tag refused ({problem})"
        raise ConfigError(f"YAML error in {where}: {problem}") from None
    if data is None:
        raise ConfigError(f"config file is empty: {path}")
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of sections, got {type(data).__name__}")
    return data


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base``, section by section (neither is changed)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            # A model of another name does not inherit the old model's kwargs.
            if key == "model" and "name" in value and value["name"] != out[key].get("name"):
                out[key] = copy.deepcopy(value)
            else:
                out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML config as a plain dict, its ``_base_`` files merged under it."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"_base_ cycle: {' -> '.join(str(p) for p in (*seen, path))}")
    data = _read_yaml(path)
    bases = data.pop("_base_", None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"_base_ in {path} must be a path or a list of paths")
    merged: dict[str, Any] = {}
    for base in bases:
        merged = merge(merged, load_yaml(path.parent / base, (*seen, path)))
    return merge(merged, data)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["optim.lr=0.05", "model.channels=[8,16]"]`` -> nested dict."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"override key {key!r} must be section.key (e.g. optim.lr=0.05)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw  # not YAML: keep the text, the schema decides
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r} conflicts with another override")
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    data = load_yaml(Path(path)) if path is not None else {}
    if overrides:
        data = merge(data, parse_overrides(overrides))
    return config_from_dict(data)


# ---------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------
def config_from_dict(data: dict[str, Any]) -> Config:
    unknown = [k for k in data if k not in _SECTIONS]
    for key in unknown:
        hint = did_you_mean(key, _SECTIONS, f"sections: {', '.join(_SECTIONS)}", n=1)
        raise ConfigError(f"unknown config section {key!r} ({hint})")
    sections = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"section {name!r} must be a mapping of keys, got {type(raw).__name__}")
        sections[name] = _build_section(name, cls, raw)
    return Config(**sections)


def _build_section(section: str, cls: type, raw: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    open_field = _OPEN_SECTIONS.get(section)
    known = [n for n in fields if n != open_field]
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key not in known:
            if open_field is not None:
                extra[key] = value
                continue
            hint = did_you_mean(key, known, f"{section} keys: {', '.join(known)}", n=1, prefix=f"{section}.")
            raise ConfigError(f"unknown key {section}.{key} ({hint})")
        f = fields[key]
        values[key] = _coerce(f"{section}.{key}", value, hints[key], f.metadata.get("range"))
    if open_field is not None:
        values[open_field] = extra
    return cls(**values)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}" if args else "list"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any, bounds: dict[str, float] | None) -> Any:
    given = value

    def fail() -> typing.NoReturn:
        raise ConfigError(f"{key} must be {_type_name(tp)}{_bounds_text(bounds)}, got {given!r}")

    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg, bounds)
            except ConfigError as exc:
                if "must be" in str(exc) and _within_type(value, arg):
                    raise  # right type, out of range: report the range
        fail()
    if origin is Literal:
        if isinstance(value, bool) and ("off" if not value else "on") in typing.get_args(tp):
            value = "off" if not value else "on"  # YAML 1.1 reads a bare off/on as a boolean
        if value not in typing.get_args(tp):
            choices = [str(a) for a in typing.get_args(tp)]
            hint = did_you_mean(str(value), choices, n=1, quote=True)
            hint = f" ({hint})" if hint else ""
            raise ConfigError(f"{key} must be one of {', '.join(repr(a) for a in typing.get_args(tp))}, got {value!r}{hint}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail()
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
            raise ConfigError(f"{key} must be a list of {len(args)} values, got {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(key, v, item_tp, bounds) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            fail()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                fail()
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
        value = float(value)
        if not math.isfinite(value):
            fail()
    elif tp is str:
        if not isinstance(value, str):
            fail()
    if bounds and not _in_bounds(value, bounds):
        fail()
    return value


def _within_type(value: Any, tp: Any) -> bool:
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False


def _in_bounds(value: float, bounds: dict[str, float]) -> bool:
    checks = {"gt": value > bounds.get("gt", -math.inf), "ge": value >= bounds.get("ge", -math.inf),
              "lt": value < bounds.get("lt", math.inf), "le": value <= bounds.get("le", math.inf)}
    return all(checks.values())


def _bounds_text(bounds: dict[str, float] | None) -> str:
    if not bounds:
        return ""
    words = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    return " " + " and ".join(f"{words[k]} {v:g}" for k, v in bounds.items())
