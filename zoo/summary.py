"""The layer table: what each layer outputs, how big that is, what it holds, what it costs.

    >>> import zoo
    >>> model = zoo.create_model("lenet5", in_chans=3, channels=[8, 16], activation="relu", pool="max")
    >>> print(zoo.summary(model, (3, 32, 32)).format())  # doctest: +SKIP

One forward pass of a random batch is traced with forward hooks (output shapes) and
``torch.utils.flop_counter.FlopCounterMode`` (FLOPs). Everything is reported per
sample: output shapes without the batch dimension, activation sizes as element
counts of one sample's output, FLOPs of one sample's forward pass.

A row is a layer that does the work: every leaf module, plus any module holding
parameters of its own beside its children. Parameter-free elementwise layers
(activations, dropout, flatten, identity) change no shape and hold nothing, so
they are folded away unless ``all_layers=True``, which is how textbook tables
(conv, pool, fc) are drawn. Modules that hold parameters but did not run (the
auxiliary heads of GoogLeNet in eval mode) still get a row, without a shape, so
that the parameter column always adds up to the total.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from .errors import ConfigError, first_line

__all__ = ["LayerInfo", "Summary", "summary", "layer_kind"]

InputSize = Sequence[int] | Sequence[Sequence[int]]

# Layers whose row adds nothing to a table of shapes and parameters (see module docstring).
_FOLDED_KINDS = frozenset({"ACT", "DROP", "FLAT", "ID"})


def layer_kind(module: nn.Module) -> str:
    """The textbook label of a layer: CONV, POOL, FC, NORM, ACT, DROP, RNN, EMBED, ...

    A model's own layer may say which it is with a class attribute ``summary_kind``;
    anything else falls back to its class name in capitals.
    """
    if isinstance(getattr(type(module), "summary_kind", None), str):
        return type(module).summary_kind
    m = nn.modules
    if isinstance(module, m.conv._ConvNd):
        return "CONV"
    if isinstance(
        module,
        (m.pooling._MaxPoolNd, m.pooling._AvgPoolNd, m.pooling._AdaptiveAvgPoolNd,
         m.pooling._AdaptiveMaxPoolNd, m.pooling._LPPoolNd),
    ):
        return "POOL"
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return "FC"
    if isinstance(module, (m.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)):
        return "NORM"
    if isinstance(module, m.dropout._DropoutNd):
        return "DROP"
    if isinstance(module, (nn.Flatten, nn.Unflatten)):
        return "FLAT"
    if isinstance(module, nn.Identity):
        return "ID"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "EMBED"
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return "RNN"
    if type(module).__module__ == m.activation.__name__ and not isinstance(module, nn.MultiheadAttention):
        return "ACT"
    return type(module).__name__.upper()


@dataclass
class LayerInfo:
    """One row of the table; every size is per sample."""

    name: str  # qualified module name, e.g. "features.0"
    type: str  # class name, e.g. "Conv2d"
    kind: str  # textbook label, see layer_kind
    output_shape: tuple[int, ...] | None  # of the first output tensor, batch dim removed; None if not run
    activations: int  # elements of all output tensors of one sample
    params: int  # parameters held by this module itself (not its children)
    trainable_params: int
    flops: int  # of this module itself, one sample
    calls: int = 0  # forward calls during the traced pass

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        return d


@dataclass
class Summary:
    """The traced table of a model on one input size. ``format()`` renders it."""

    model: str
    input_size: list[tuple[int, ...]]
    rows: list[LayerInfo]
    total_params: int
    trainable_params: int
    flops: int  # whole forward pass, one sample
    folded: int = 0  # parameter-free elementwise rows left out
    output_shape: tuple[int, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def macs(self) -> int:
        return self.flops // 2

    @property
    def activations(self) -> int:
        """Elements output by the shown rows of one sample (what backprop must keep, roughly)."""
        return sum(r.activations for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_size": [list(s) for s in self.input_size],
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "rows": [r.to_dict() for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "flops": self.flops,
            "activations": self.activations,
        }

    def format(self) -> str:
        header = ("Layer", "Kind", "Type", "Output shape", "Activations", "Params", "FLOPs")
        body = []
        for r in self.rows:
            kind = r.kind if r.calls <= 1 else f"{r.kind} x{r.calls}"
            shape = _shape_text(r.output_shape) if r.output_shape is not None else "(not run)"
            body.append((r.name or "(model)", kind, r.type, shape, f"{r.activations:,}", f"{r.params:,}", f"{r.flops:,}"))
        widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
        left = (True, True, True, False, False, False, False)

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.ljust(w) if lft else c.rjust(w) for c, w, lft in zip(cells, widths, left)).rstrip()

        rule = "-" * len(line(header))
        inputs = ", ".join(_shape_text(s) for s in self.input_size)
        out = [f"{self.model}: input {inputs}, sizes per sample", rule, line(header), rule]
        out += [line(row) for row in body]
        out.append(rule)
        out.append(f"Total params:          {self.total_params:,}")
        out.append(f"Trainable params:      {self.trainable_params:,}")
        out.append(f"Non-trainable params:  {self.non_trainable_params:,}")
        out.append(f"Activations:           {self.activations:,} ({_mib(self.activations * 4)} as float32)")
        out.append(f"Params size:           {_mib(self.total_params * 4)} as float32")
        out.append(f"FLOPs:                 {self.flops:,} ({_si(self.flops)}FLOPs = 2 x {_si(self.macs)}MACs"
                   " of convolutions and matrix products)")
        if self.output_shape is not None:
            out.append(f"Output shape:          {_shape_text(self.output_shape)}")
        if self.folded:
            out.append(f"({self.folded} parameter-free activation/dropout/flatten/identity rows folded;"
                       " all_layers=True shows them)")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.format()


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:.2f} MiB"


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:g} "


def _tensors(obj: Any) -> list[Tensor]:
    """Every tensor in a (nested) module output, in order."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, nn.utils.rnn.PackedSequence):  # a tuple, but only .data is output
        return [obj.data]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _tensors(item)]
    return []


def _normalize_sizes(input_size: InputSize) -> list[tuple[int, ...]]:
    if not input_size:
        raise ConfigError("input_size must be a shape such as (3, 32, 32)")
    if all(isinstance(d, int) for d in input_size):
        sizes = [tuple(int(d) for d in input_size)]  # type: ignore[union-attr]
    else:
        sizes = [tuple(int(d) for d in s) for s in input_size]  # type: ignore[union-attr]
    for s in sizes:
        if not s or any(d < 1 for d in s):
            raise ConfigError(f"input size must be positive integers, got {_shape_text(s)}")
    return sizes


def summary(
    model: nn.Module,
    input_size: InputSize | None = None,
    *,
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    input_data: Tensor | Sequence[Tensor] | None = None,
    all_layers: bool = False,
) -> Summary:
    """Trace one forward pass of ``model`` and tabulate its layers.

    Args:
        model: any ``nn.Module``; it is run in eval mode under ``torch.no_grad`` and
            put back in the mode it was in.
        input_size: one sample's shape, ``(C, H, W)``, or a list of shapes for a
            model with several inputs; random normal inputs of that size are used.
        batch_size: samples in the traced batch (sizes are still reported per sample).
        device: where to run; the model is moved there (and stays).
        dtype: of the random inputs.
        input_data: real inputs instead of ``input_size`` (e.g. token ids), batch first.
        all_layers: also show parameter-free activation, dropout, flatten and identity rows.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    model = model.to(device)
    if input_data is not None:
        inputs = [input_data] if isinstance(input_data, Tensor) else list(input_data)
        inputs = [t.to(device) for t in inputs]
        batch_size = inputs[0].shape[0] if inputs[0].dim() else 1
        sizes = [tuple(t.shape[1:]) for t in inputs]
    elif input_size is not None:
        sizes = _normalize_sizes(input_size)
        embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
        if embedding is not None and len(sizes) == 1:
            # A model that starts with an embedding reads token ids, not floats.
            inputs = [torch.randint(1, embedding.num_embeddings, (batch_size, *sizes[0]), device=device)]
        else:
            inputs = [torch.randn(batch_size, *s, device=device, dtype=dtype) for s in sizes]
    else:
        raise ConfigError("summary needs input_size or input_data")

    names = {m: n for n, m in model.named_modules()}
    order: list[nn.Module] = []
    seen: dict[nn.Module, dict[str, Any]] = {}

    def hook(module: nn.Module, _args: Any, output: Any) -> None:
        info = seen.get(module)
        if info is None:
            tensors = _tensors(output)
            first = tensors[0].shape if tensors else None
            shape = None
            if first is not None:
                # Batch-first outputs lose their batch dimension; anything else is shown whole.
                shape = tuple(first[1:]) if len(first) and first[0] == batch_size else tuple(first)
            acts = sum(t.numel() for t in tensors) // batch_size
            seen[module] = info = {"shape": shape, "activations": acts, "calls": 0}
            order.append(module)
        info["calls"] += 1

    def wanted(module: nn.Module) -> bool:
        has_children = next(module.children(), None) is not None
        return not has_children or next(module.parameters(recurse=False), None) is not None

    handles = [m.register_forward_hook(hook) for m in model.modules() if wanted(m)]
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, depth=None)
    # The recurrent layers' fused path runs in-place addmm_ kernels that the FLOP
    # counter does not see; count on their reference path (same equations).
    fused = [m for m in model.modules() if isinstance(getattr(m, "fused", None), bool)]
    saved = [m.fused for m in fused]
    try:
        for m in fused:
            m.fused = False
        with torch.no_grad(), counter:
            output = model(*inputs)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        shapes = ", ".join(_shape_text(s) for s in sizes)
        raise ConfigError(f"{type(model).__name__} cannot take an input of size {shapes}: {first_line(exc)}") from exc
    finally:
        for h in handles:
            h.remove()
        for m, value in zip(fused, saved):
            m.fused = value
        model.train(was_training)

    flop_counts = counter.get_flop_counts()
    root = type(model).__name__

    def module_flops(name: str) -> int:
        key = f"{root}.{name}" if name else root
        return sum(flop_counts.get(key, {}).values())

    def own_flops(module: nn.Module) -> int:
        name = names[module]
        total = module_flops(name)
        children = sum(module_flops(f"{name}.{c}" if name else c) for c, _ in module.named_children())
        return max(total - children, 0)

    def row(module: nn.Module, info: dict[str, Any] | None) -> LayerInfo:
        params = list(module.parameters(recurse=False))
        return LayerInfo(
            name=names[module],
            type=type(module).__name__,
            kind=layer_kind(module),
            output_shape=info["shape"] if info else None,
            activations=info["activations"] if info else 0,
            params=sum(p.numel() for p in params),
            trainable_params=sum(p.numel() for p in params if p.requires_grad),
            flops=own_flops(module) // batch_size if info else 0,
            calls=info["calls"] if info else 0,
        )

    rows = [row(m, seen[m]) for m in order]
    # Parameter holders that never ran, so the parameter column adds up to the total.
    rows += [row(m, None) for m in model.modules() if m not in seen and wanted(m)
             and next(m.parameters(recurse=False), None) is not None]
    shown = [r for r in rows if all_layers or r.params or r.kind not in _FOLDED_KINDS]

    out_tensors = _tensors(output)
    out_shape = tuple(out_tensors[0].shape[1:]) if out_tensors else None
    params = list(model.parameters())
    return Summary(
        model=root,
        input_size=sizes,
        rows=shown,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        flops=counter.get_total_flops() // batch_size,
        folded=len(rows) - len(shown),
        output_shape=out_shape,
    )


class _CallableModule(types.ModuleType):
    """``zoo.summary`` is both this module and the function ``zoo.summary(model, size)``.

    Importing the submodule sets the package attribute ``zoo.summary`` to the module
    (whatever ``zoo.__getattr__`` returned before), so the module itself forwards
    calls to :func:`summary`; ``zoo.summary(...)`` works whichever one it holds.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Summary:
        return summary(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
