"""Checkpoints: self-describing weights and exact training state.

Two kinds of file:

``*.safetensors`` -- weights plus a JSON metadata block: the model's registry
name and keyword arguments, task, class names, input size, normalization,
vocabulary of text models, dataset, metrics, zoo version and the sha256 of the
tensors. :func:`load_checkpoint` rebuilds the architecture from that metadata
alone. safetensors holds no code, so loading one can run nothing.

``*.ckpt`` -- the full training state the engine resumes from (model,
optimizer, scheduler, scaler, counters, RNG states, resolved config), written
with ``torch.save`` and read only with ``torch.load(weights_only=True)``: a file
whose pickle asks for anything but tensors and plain containers is refused.

Every write goes to a temporary file in the same folder, is fsynced, then
renamed over the target: a crash at any instant leaves the old file or the new
one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import rundir
from .atomic import atomic_write, atomic_write_text
from .errors import CheckpointError, first_line
from .features import FeatureMaps
from .registry import get_model_entry
from .version import __version__

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "read_metadata",
    "tensors_sha256",
    "save_state",
    "load_state",
    "unwrap",
    "is_tied",
    "is_refusal",
    # Re-exported from zoo.atomic, where they live, for code that knew them here.
    "atomic_write",
    "atomic_write_text",
]

FORMAT = "zoo.v1"


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of names, dtypes, shapes and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-dim too
    return h.hexdigest()


def save_checkpoint(model: nn.Module, path: str | Path, /, **meta: Any) -> Path:
    """Save ``model``'s weights and metadata to a ``.safetensors`` file.

    The model must come from :func:`zoo.create_model` (it carries its registry
    name and arguments), or ``meta`` must give ``model`` and ``model_kwargs``.
    Any other keyword (``classes``, ``mean``, ``std``, ``dataset``, ``metrics``,
    ``vocab``, ...) is stored as JSON.
    """
    from safetensors.torch import save_model

    model = unwrap(model)
    config = getattr(model, "zoo_config", None) or {}
    name = meta.pop("model", None) or config.get("name")
    kwargs = meta.pop("model_kwargs", None)
    if kwargs is None:
        kwargs = config.get("kwargs", {})
    if not name:
        raise CheckpointError("save_checkpoint needs a model built by zoo.create_model, or model=... and model_kwargs=...")
    state = model.state_dict()
    record = {
        "format": FORMAT,
        "model": name,
        "model_kwargs": kwargs,
        "zoo_version": __version__,
        "sha256": tensors_sha256(state),
        **meta,
    }
    try:
        text = json.dumps(record)
    except TypeError as exc:
        raise CheckpointError(f"checkpoint metadata must be JSON-serializable: {exc}") from None
    path = Path(path)
    was_training = model.training
    atomic_write(path, lambda p: save_model(model, str(p), metadata={"zoo": text}))
    model.train(was_training)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The zoo metadata of a ``.safetensors`` checkpoint (without loading tensors)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get("zoo")
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"{path} is not a readable safetensors file ({first_line(exc, 200)})") from None
    if raw is None:
        raise CheckpointError(f"{path} has no zoo metadata: it is a plain safetensors file, not a zoo checkpoint")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: zoo metadata is not valid JSON") from None
    if not isinstance(meta, dict) or "model" not in meta:
        raise CheckpointError(f"{path}: zoo metadata names no model")
    return meta


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu", verify: bool = True) -> nn.Module:
    """Rebuild the model a checkpoint describes, load its weights, return it in eval mode.

    Accepts a ``.safetensors`` checkpoint (weights + metadata), a training state
    ``.ckpt`` (read with ``weights_only=True``), or a run directory (its
    ``best.safetensors``). The metadata is attached as ``model.zoo_meta``.
    """
    path = rundir.weights_file(path)
    if path.suffix == ".ckpt":
        state = load_state(path)
        meta = dict(state.get("meta") or {})
        weights = state["model"]
    else:
        from safetensors.torch import load_file

        meta = read_metadata(path)
        try:
            weights = load_file(str(path), device=str(map_location))
        except Exception as exc:
            raise CheckpointError(f"cannot read tensors of {path} ({first_line(exc, 200)})") from None
    kwargs = dict(meta.get("model_kwargs") or {})
    # A features_only model (zoo.create_model(..., features_only=True)) records how it was cut.
    features_only, out_indices = kwargs.pop("features_only", False), kwargs.pop("out_indices", None)
    model = get_model_entry(meta["model"]).build(**kwargs)
    if features_only:
        model = FeatureMaps(model, out_indices)
    _load_weights(model, weights, path)
    if verify and meta.get("sha256") and path.suffix != ".ckpt":
        state = model.state_dict()
        stored = meta.get("dtype")  # weights kept in lower precision (zoo.publish --dtype) were hashed as stored
        if stored:
            dtype = getattr(torch, str(stored), None)
            if not isinstance(dtype, torch.dtype):
                raise CheckpointError(f"{path}: unknown stored dtype {stored!r} in its metadata")
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        if tensors_sha256(state) != meta["sha256"]:
            raise CheckpointError(f"{path}: tensors do not match the sha256 in its metadata (corrupt or edited file)")
    model.zoo_meta = meta
    return model.to(map_location).eval()


def _load_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # Tied weights are stored once; their other names come back as "missing".
    tied = {k for k in missing if is_tied(model, k, weights)}
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {', '.join(missing[:10])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {', '.join(unexpected[:10])}")
        raise CheckpointError(f"{path}: weights do not fit the model it names ({'; '.join(parts)})")


def is_tied(model: nn.Module, key: str, weights: dict[str, torch.Tensor]) -> bool:
    """Whether parameter ``key`` of ``model`` is the same tensor as another one that
    ``weights`` holds (tied weights are stored once, under one of their names)."""
    params = dict(model.named_parameters(remove_duplicate=False))
    target = params.get(key)
    if target is None:
        return False
    return any(k in weights and p is target for k, p in params.items() if k != key)


# ---------------------------------------------------------------------------------
# Training state
# ---------------------------------------------------------------------------------
def save_state(state: dict[str, Any], path: str | Path) -> None:
    atomic_write(path, lambda p: torch.save(state, p))


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a ``.ckpt`` with ``weights_only=True``; anything else is refused in one line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = first_line(exc, 200)
        if is_refusal(exc):
            raise CheckpointError(
                f"{path} refused: it carries a pickle payload beyond tensors and plain containers; nothing in it was run"
            ) from None
        raise CheckpointError(f"{path} is not a zoo training checkpoint (corrupt or truncated: {reason})") from None
    except Exception as exc:
        raise CheckpointError(f"{path} is not a zoo training checkpoint (corrupt or truncated: {first_line(exc, 200)})") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a zoo training checkpoint (no model state and config inside)")
    return state


def is_refusal(exc: BaseException) -> bool:
    """Whether torch.load(weights_only=True) stopped at something beyond tensors and containers."""
    text = str(exc).lower()
    return any(k in text for k in ("weights only load failed", "weights_only", "unsupported global", "global"))
