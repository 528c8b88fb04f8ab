"""torch.nn's argument and input checks for zoo.layers.recurrent, with its exception types.

Kept apart so the recurrent module reads as the model; what is checked, and which
exception says so, follows torch.nn.RNNBase and torch.nn's cells.
"""

from __future__ import annotations

import numbers
import warnings

import torch
from torch import Tensor

__all__ = ["check_arguments", "check_input", "check_cell_input"]


def check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size) -> None:
    """torch.nn.RNNBase's argument checks, with its exception types and warning."""
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError(f"dropout should be a number in range [0, 1], the probability of zeroing, got {dropout!r}")
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            f"dropout acts after all but the last recurrent layer, so non-zero dropout expects "
            f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
            stacklevel=4,
        )
    for name, value in (("bias", bias), ("batch_first", batch_first)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


def check_cell_input(name: str, input: Tensor, hx: Tensor | None, what: str = "hidden") -> None:
    # torch.nn's cell checks and exception types; the rest (sizes, dtypes) fail in F.linear.
    if input.dim() not in (1, 2):
        raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
    if hx is not None:
        if hx.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {hx.dim()}D instead")
        if hx.dim() != input.dim():
            raise RuntimeError(f"{name}: {input.dim()}-D input needs a {input.dim()}-D {what}, got {hx.dim()}-D")


def check_input(name: str, data: Tensor, dtype: torch.dtype, input_size: int) -> None:
    """A layer's input rows (N, features), packed or flattened; torch.nn.RNNBase.check_input."""
    if not torch.jit.is_scripting():
        if data.dtype != dtype and not torch._C._is_any_autocast_enabled():
            raise ValueError(
                f"{name} input dtype ({data.dtype}) does not match weight dtype ({dtype}). "
                f"Convert input: input.to({dtype}), or convert model: model.to({data.dtype})"
            )
    if data.dim() != 2:
        raise RuntimeError(f"input must have 2 dimensions (packed data), got {data.dim()}")
    if data.shape[-1] != input_size:
        raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {input_size}, got {data.shape[-1]}")
