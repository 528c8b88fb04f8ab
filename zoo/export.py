"""``zoo export``: a checkpoint to TorchScript or ONNX, checked against the eager model.

    zoo export CHECKPOINT --format torchscript|onnx [--out PATH] [--batch N]

``CHECKPOINT`` is a ``.safetensors`` checkpoint, a run directory, a training
``.ckpt`` or a published name (``lenet5.mnist``). The model is rebuilt from the
checkpoint's metadata, put in eval mode and traced on an example input made from
that metadata: images ``(N, C, H, W)`` of the checkpoint's input size, sequences
``(N, T, F)``, token ids ``(N, T)`` for models that start with an embedding. The
exported model is then run on the example and compared with the eager model; the
command fails if they differ.

Tracing records the operations of one forward pass. CNNs export with a free
batch dimension. The recurrent layers take their readable time loop by themselves
while traced (their fused kernels are eager-only), and it is unrolled, so the
sequence length ``T`` of the example is fixed in the exported graph (and the batch
size too for the recurrent models); the exported file records the example shape
(``zoo.json`` in TorchScript's extra files, ``doc_string``/metadata in ONNX).

ONNX needs the ``onnx`` package (``pip install 'zoo[onnx]'``); the comparison
runs with ``onnxruntime`` when that is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, ZooError

__all__ = ["export", "example_input", "to_torchscript", "to_onnx", "add_cli", "ExportError"]

FORMATS = ("torchscript", "onnx")
_SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}


class ExportError(ZooError):
    """A model that cannot be exported, or whose export does not match it."""

    exit_code = 1


# ---------------------------------------------------------------------------------
# Example inputs
# ---------------------------------------------------------------------------------
def _first_leaf(model: nn.Module) -> nn.Module | None:
    for module in model.modules():
        if next(module.parameters(recurse=False), None) is not None:
            return module
    return None


def example_input(model: nn.Module, meta: dict[str, Any] | None = None, *, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """An input the model takes, shaped from its checkpoint metadata (or registry entry)."""
    from .registry import get_model_entry

    meta = meta or getattr(model, "zoo_meta", None) or {}
    name = meta.get("model") or (getattr(model, "zoo_config", None) or {}).get("name")
    size = meta.get("input_size") or (list(get_model_entry(name).input_size) if name else None)
    gen = torch.Generator().manual_seed(seed)
    first = _first_leaf(model)
    if isinstance(first, nn.Embedding):
        length = int(size[0]) if size else 32
        # Ids from 1: 0 is the usual padding id, and a padded row would be a different trace.
        low = 1 if first.num_embeddings > 1 else 0
        return torch.randint(low, first.num_embeddings, (batch, length), generator=gen)
    if not size:
        raise ExportError(f"cannot tell the input size of {name or type(model).__name__}: its checkpoint records none")
    return torch.randn(batch, *[int(s) for s in size], generator=gen)


def _flatten(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _flatten(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _flatten(v)]
    return []


def _max_diff(a: Any, b: Any) -> float:
    fa, fb = _flatten(a), _flatten(b)
    if len(fa) != len(fb) or any(x.shape != y.shape for x, y in zip(fa, fb)):
        return float("inf")
    return max((float((x.double() - y.double()).abs().max()) if x.numel() else 0.0 for x, y in zip(fa, fb)), default=0.0)


def _tolerance(ref: Any) -> float:
    scale = max((float(t.abs().max()) for t in _flatten(ref) if t.numel() and t.is_floating_point()), default=1.0)
    return 1e-4 * max(1.0, scale)


def _is_recurrent(model: nn.Module) -> bool:
    from torch.nn.modules.rnn import RNNBase

    return any(hasattr(m, "fused") or isinstance(m, RNNBase) for m in model.modules())


# ---------------------------------------------------------------------------------
# Exporters
# ---------------------------------------------------------------------------------
def to_torchscript(model: nn.Module, example: torch.Tensor, path: Path, *, meta: dict[str, Any] | None = None) -> Path:
    """Trace ``model`` on ``example`` and save it; returns ``path``."""
    from .checkpoint import atomic_write

    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated": still the TorchScript path
        try:
            traced = torch.jit.trace(model, (example,), strict=False, check_trace=False)
        except Exception as exc:
            raise ExportError(f"TorchScript trace of {type(model).__name__} failed: {_first_line(exc)}") from None
    extra = {"zoo.json": json.dumps(_export_meta(meta, example))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        atomic_write(path, lambda p: torch.jit.save(traced, str(p), _extra_files=extra))
    return path


def to_onnx(model: nn.Module, example: torch.Tensor, path: Path, *, meta: dict[str, Any] | None = None,
            opset: int = 17) -> Path:
    """Export ``model`` to ONNX on ``example`` (batch axis free for non-recurrent models)."""
    if importlib.util.find_spec("onnx") is None:
        raise ConfigError("ONNX export needs the onnx package: pip install onnx (or pip install 'zoo[onnx]'); "
                          "--format torchscript needs nothing more")
    from .checkpoint import atomic_write

    model = model.eval()
    with torch.no_grad():
        ref = model(example)
    n_out = len(_flatten(ref))
    outputs = ["output"] if n_out == 1 else [f"output{i}" for i in range(n_out)]
    dynamic = None if _is_recurrent(model) else {"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}}

    def write(p: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(p), dynamo=False, input_names=["input"], output_names=outputs,
                              dynamic_axes=dynamic, opset_version=opset)
        import onnx

        proto = onnx.load(str(p))
        entry = proto.metadata_props.add()
        entry.key, entry.value = "zoo", json.dumps(_export_meta(meta, example))
        onnx.save(proto, str(p))

    try:
        atomic_write(path, write)
    except ZooError:
        raise
    except Exception as exc:
        raise ExportError(f"ONNX export of {type(model).__name__} failed: {_first_line(exc)}") from None
    return path


def _export_meta(meta: dict[str, Any] | None, example: torch.Tensor) -> dict[str, Any]:
    meta = dict(meta or {})
    keep = ("model", "model_kwargs", "dataset", "task", "input_size", "classes", "mean", "std", "zoo_version")
    out = {k: meta[k] for k in keep if k in meta}
    out["example_shape"] = list(example.shape)
    out["example_dtype"] = str(example.dtype).replace("torch.", "")
    if meta.get("vocab"):
        out["vocab"] = meta["vocab"]
    return out


def run_exported(path: Path, fmt: str, example: torch.Tensor) -> Any | None:
    """Outputs of the exported file on ``example`` (None for ONNX without onnxruntime)."""
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            return loaded(example)
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    return [torch.from_numpy(o) for o in outs]


def export(
    checkpoint: str | Path | nn.Module,
    fmt: str = "torchscript",
    out: str | Path | None = None,
    *,
    batch: int = 2,
    verify: bool = True,
) -> dict[str, Any]:
    """Export a checkpoint (or a model built by the zoo) and check it against the eager model.

    Returns ``{"path", "format", "example_shape", "max_abs_diff"}`` (``max_abs_diff``
    is None when the ONNX file could not be run, i.e. without onnxruntime).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(checkpoint, nn.Module):
        model = checkpoint.eval()
        meta = dict(getattr(model, "zoo_meta", None) or {})
        if not meta and getattr(model, "zoo_config", None):
            meta = {"model": model.zoo_config["name"], "model_kwargs": model.zoo_config["kwargs"]}
        default_out = Path(f"{meta.get('model', type(model).__name__.lower())}{_SUFFIX[fmt]}")
    else:
        from .checkpoint import load_checkpoint
        from .engine.evaluate import resolve_checkpoint

        path, published = resolve_checkpoint(str(checkpoint))
        model = load_checkpoint(path)
        meta = model.zoo_meta
        if published:
            default_out = Path(f"{checkpoint}{_SUFFIX[fmt]}")
        else:
            src = path / "best.safetensors" if path.is_dir() else path
            default_out = src.with_suffix(_SUFFIX[fmt])
    if batch < 1:
        raise ConfigError(f"--batch must be >= 1, got {batch}")
    out_path = Path(out) if out else default_out
    if out_path.is_dir():
        out_path = out_path / default_out.name
    example = example_input(model, meta, batch=batch)
    with torch.no_grad():
        ref = model(example)  # the eager model as it runs, fused recurrent layers included
    (to_torchscript if fmt == "torchscript" else to_onnx)(model, example, out_path, meta=meta)
    diff = None
    if verify:
        got = run_exported(out_path, fmt, example)
        if got is not None:
            diff = _max_diff(ref, got)
            if not diff <= _tolerance(ref):
                raise ExportError(f"{out_path}: exported outputs differ from the eager model's (max |diff| {diff:.3g})")
    return {"path": str(out_path), "format": fmt, "example_shape": list(example.shape), "max_abs_diff": diff}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


# ---------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------
def _cmd_export(args: argparse.Namespace) -> int:
    result = export(args.checkpoint, args.format, args.out, batch=args.batch)
    if args.json:
        print(json.dumps(result))
        return 0
    shape = "x".join(str(s) for s in result["example_shape"])
    check = ("outputs equal the eager model's (max |diff| %.2g)" % result["max_abs_diff"]
             if result["max_abs_diff"] is not None else "not run (onnxruntime is not installed)")
    print(f"wrote {result['path']} ({args.format}, traced on input {shape}); {check}")
    return 0


def add_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint to TorchScript or ONNX, checked against the eager model")
    p.add_argument("checkpoint", help="a .safetensors/.ckpt file, a run directory or a published name (lenet5.mnist)")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", help="output file (default: beside the checkpoint, .pt or .onnx)")
    p.add_argument("--batch", type=int, default=2, help="batch size of the example input (default 2)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=_cmd_export)

