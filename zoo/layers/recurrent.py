"""Vanilla RNN, GRU and (peephole, projected) LSTM, written from their equations.

Read top to bottom, the module is the model:

1. **Equations**: :func:`rnn_step`, :func:`gru_step`, :func:`lstm_step` (with
   :func:`lstm_gates`), one time step each, as the papers write them.
2. **Cells**: :class:`RNNCell`, :class:`GRUCell`, :class:`PeepholeLSTMCell`, one step
   with torch.nn's cell parameters (``weight_ih``, ``weight_hh``, ``bias_ih``,
   ``bias_hh``) and call signature.
3. **Layer**: :func:`recurrent_layer`, one direction of one layer over a whole (packed)
   batch. The input projection ``x_t W_ih^T + b`` of every step is one matrix product;
   only the recurrent product is left inside the loop, which calls the step function.
4. **Stack**: :class:`RNN`, :class:`GRU`, :class:`PeepholeLSTM` own the parameters
   under torch.nn.RNN/GRU/LSTM's names (``weight_ih_l0``, ``weight_hh_l0_reverse``,
   ``weight_hr_l0`` ...), so ``load_state_dict(torch_module.state_dict())`` works
   as-is, and have torch.nn's constructor arguments, argument and input checks,
   forward signature and return values, including
   :class:`~torch.nn.utils.rnn.PackedSequence` input.

Packed and padded batches share one code path: a padded ``(T, B, F)`` batch is a
packed one whose ``batch_sizes`` are all ``B``. In a packed batch (sorted by length)
step ``t`` updates only the first ``batch_sizes[t]`` rows, so padding never touches the
result and each sequence's final state is the one after its own last step.

**The fast path.** By default (``fused=True``) the stack hands each layer and direction
to :mod:`zoo.layers._recurrent_fast`: the same function with back-propagation through
time written out by hand, several times faster. It runs only in eager mode; under
``torch.jit.script``/``trace``, ``torch.compile``, ``torch.export``, autocast and with
``proj_size`` the stack runs :func:`recurrent_layer`, and ``fused=False`` makes it do
so always (to step through the equations, and for double backward and ``torch.func``).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from . import _recurrent_fast
from ._recurrent_checks import check_arguments, check_cell_input, check_input

__all__ = [
    "rnn_step", "gru_step", "lstm_gates", "lstm_step", "recurrent_layer",
    "RNNCell", "GRUCell", "PeepholeLSTMCell", "RNN", "GRU", "PeepholeLSTM",
]


# =====================================================================================
# 1. The equations, one step
# =====================================================================================
# ``gx`` is the input projection x W_ih^T + b_ih (+ b_hh where it may be folded in).


def rnn_step(gx: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str) -> Tensor:
    """Elman (1990): ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    pre = gx + F.linear(h, w_hh, b_hh)
    if nonlinearity == "tanh":
        return torch.tanh(pre)
    if nonlinearity == "relu":
        return torch.relu(pre)
    raise RuntimeError(f"Unknown nonlinearity: {nonlinearity}")


def gru_step(gx: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, reset_after: bool) -> Tensor:
    """One GRU step; gate order r, z, n as in torch.nn.GRU. See :class:`GRU` for the equations."""
    x_r, x_z, x_n = gx.chunk(3, -1)
    hidden = h.shape[-1]
    if reset_after:
        h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
    else:
        # Written with matmul and explicit slices: TorchScript's autodiff miscomputes
        # F.linear with a sliced optional bias, and chunk, on this graph.
        h_rz = h @ w_hh[: 2 * hidden].t()
        if b_hh is not None:
            h_rz = h_rz + b_hh[: 2 * hidden]
        r = torch.sigmoid(x_r + h_rz[..., :hidden])
        z = torch.sigmoid(x_z + h_rz[..., hidden:])
        h_n = (r * h) @ w_hh[2 * hidden :].t()
        if b_hh is not None:
            h_n = h_n + b_hh[2 * hidden :]
        n = torch.tanh(x_n + h_n)
    return n + z * (h - n)  # = (1 - z) * n + z * h


def lstm_gates(
    gx: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_ci: Tensor | None = None,
    w_cf: Tensor | None = None,
    w_co: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gates ``i, f, g, o`` of one (peephole) LSTM step and the new cell state ``c_t``;
    gate order i, f, g, o as in torch.nn.LSTM.

    Peepholes as in Gers & Schmidhuber (2000): the input and forget gates look at the
    old cell state ``c_{t-1}``, the output gate at the new one ``c_t``; each peephole
    is a vector (a diagonal matrix), applied elementwise.
    """
    i, f, g, o = (gx + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    if w_ci is not None and w_cf is not None:
        i = i + w_ci * c
        f = f + w_cf * c
    i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
    c = f * c + i * g
    if w_co is not None:
        o = o + w_co * c
    return i, f, g, torch.sigmoid(o), c


def lstm_step(
    gx: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_ci: Tensor | None = None,
    w_cf: Tensor | None = None,
    w_co: Tensor | None = None,
    w_hr: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One (peephole, projected) LSTM step: ``h_t = o_t * tanh(c_t)`` from :func:`lstm_gates`.
    With ``w_hr`` (LSTMP, Sak et al. 2014) the hidden state is projected,
    ``h_t = (o_t * tanh(c_t)) W_hr^T``."""
    _, _, _, o, c = lstm_gates(gx, h, c, w_hh, b_hh, w_ci, w_cf, w_co)
    h = o * torch.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


# =====================================================================================
# 2. Cells: one step with torch.nn's cell interface
# =====================================================================================
def _uniform_init(module: nn.Module, hidden_size: int) -> None:
    # torch.nn's recurrent init: every parameter U(-1/sqrt(H), 1/sqrt(H)).
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for p in module.parameters():
        nn.init.uniform_(p, -bound, bound)


class _CellBase(nn.Module):
    gates = 0  # set by each subclass

    def __init__(self, input_size: int, hidden_size: int, bias: bool, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = nn.Parameter(torch.empty(self.gates * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(self.gates * hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(self.gates * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(self.gates * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        _uniform_init(self, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


class RNNCell(_CellBase):
    """Elman RNN cell, ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``; torch.nn.RNNCell's
    arguments, parameters and call ``cell(input, hx=None) -> h'``."""

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity  # checked when called, as torch.nn.RNNCell does
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        check_cell_input("RNNCell", input, hx)
        x = input.unsqueeze(0) if input.dim() == 1 else input
        h = x.new_zeros(x.shape[0], self.hidden_size) if hx is None else (hx.unsqueeze(0) if input.dim() == 1 else hx)
        out = rnn_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return out.squeeze(0) if input.dim() == 1 else out


class GRUCell(_CellBase):
    """GRU cell (equations in :class:`GRU`); torch.nn.GRUCell's arguments and parameters,
    plus ``reset_after``."""

    gates = 3

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None, *, reset_after: bool = True
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.reset_after = reset_after
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        check_cell_input("GRUCell", input, hx)
        x = input.unsqueeze(0) if input.dim() == 1 else input
        h = x.new_zeros(x.shape[0], self.hidden_size) if hx is None else (hx.unsqueeze(0) if input.dim() == 1 else hx)
        out = gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh, self.reset_after)
        return out.squeeze(0) if input.dim() == 1 else out

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")


class PeepholeLSTMCell(_CellBase):
    """LSTM cell with Gers & Schmidhuber (2000) peepholes (equations in :class:`PeepholeLSTM`).

    torch.nn.LSTMCell's arguments, parameters and call ``cell(input, (h, c)=None) -> (h', c')``,
    plus the peephole vectors ``weight_ci``, ``weight_cf``, ``weight_co`` (``peephole=False``
    drops them and gives torch.nn.LSTMCell exactly).
    """

    gates = 4

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None, *, peephole: bool = True
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.peephole = peephole
        for name in ("weight_ci", "weight_cf", "weight_co"):
            w = nn.Parameter(torch.empty(hidden_size, device=device, dtype=dtype)) if peephole else None
            self.register_parameter(name, w)
        self.reset_parameters()

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            check_cell_input("LSTMCell", input, None)
            x = input.unsqueeze(0) if input.dim() == 1 else input
            h = c = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            check_cell_input("LSTMCell", input, hx[0], "hx[0]")
            check_cell_input("LSTMCell", input, hx[1], "hx[1]")
            x = input.unsqueeze(0) if input.dim() == 1 else input
            h, c = (hx[0].unsqueeze(0), hx[1].unsqueeze(0)) if input.dim() == 1 else (hx[0], hx[1])
        h, c = lstm_step(
            F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh,
            self.weight_ci, self.weight_cf, self.weight_co,
        )
        return (h.squeeze(0), c.squeeze(0)) if input.dim() == 1 else (h, c)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.peephole else ", peephole=False")


# =====================================================================================
# 3. Layer: one direction of one layer over a (packed) batch
# =====================================================================================
def recurrent_layer(
    mode: str,
    x: Tensor,
    state0: list[Tensor],
    weights: list[Tensor | None],
    batch_sizes: list[int],
    reverse: bool,
    nonlinearity: str = "tanh",
    reset_after: bool = True,
) -> tuple[Tensor, list[Tensor]]:
    """Run one direction of one layer: ``x`` (N, F) packed rows, ``state0`` the initial
    ``[h]`` (``[h, c]`` for an LSTM), each (B, ·); ``weights`` are ``[w_ih, w_hh, b_ih,
    b_hh, w_ci, w_cf, w_co, w_hr]`` (None where absent). Returns the output (N, ·) and
    each sequence's final state, rows in batch order.
    """
    w_ih, w_hh, b_ih, b_hh, w_ci, w_cf, w_co, w_hr = weights
    assert w_ih is not None and w_hh is not None
    # The input projection of all steps at once. b_hh folds into it, except for GRU's
    # reset-after candidate, where r multiplies (h W_hn^T + b_hn).
    b_x, b_rec = b_ih, b_hh
    if b_ih is not None and b_hh is not None and not (mode == "GRU" and reset_after):
        b_x, b_rec = b_ih + b_hh, None
    xs = F.linear(x, w_ih, b_x).split(batch_sizes)

    order = list(range(len(batch_sizes)))
    if reverse:
        order.reverse()
    # Forward, the batch shrinks as sequences end (their final state is set aside);
    # in reverse it grows as sequences start (from their initial state).
    state = [s[:0] for s in state0] if reverse else state0
    ended: list[list[Tensor]] = []
    outs: list[Tensor] = []
    for t in order:
        b, have = batch_sizes[t], state[0].shape[0]
        if b < have:
            ended.append([s[b:] for s in state])
            state = [s[:b] for s in state]
        elif b > have:
            state = [torch.cat((s, s0[have:b])) for s, s0 in zip(state, state0)]
        if mode == "LSTM":
            h, c = lstm_step(xs[t], state[0], state[1], w_hh, b_rec, w_ci, w_cf, w_co, w_hr)
            state = [h, c]
        elif mode == "GRU":
            state = [gru_step(xs[t], state[0], w_hh, b_rec, reset_after)]
        else:
            state = [rnn_step(xs[t], state[0], w_hh, b_rec, nonlinearity)]
        outs.append(state[0])
    if reverse:
        outs.reverse()
    final: list[Tensor] = []
    for i in range(len(state)):  # rows in batch order: the longest sequences first
        final.append(torch.cat([state[i]] + [e[i] for e in ended[::-1]]))
    return torch.cat(outs), final


# =====================================================================================
# 4. Stack: layers x directions with torch.nn's interface
# =====================================================================================
_SLOTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ci", "weight_cf", "weight_co", "weight_hr")


class _RecurrentBase(nn.Module):
    """Multi-layer, optionally bidirectional runner shared by RNN, GRU and PeepholeLSTM."""

    __jit_unused_properties__ = ["all_weights"]
    mode = ""  # "RNN" | "GRU" | "LSTM", and the number of gates, set by each subclass
    gates = 0

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        fused: bool = True,
        peephole: bool = False,
    ) -> None:
        super().__init__()
        check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.fused = bidirectional, proj_size, fused
        self.mode = type(self).mode  # an instance attribute, which TorchScript can read
        factory = {"device": device, "dtype": dtype}
        directions = 2 if bidirectional else 1
        G, out_size = self.gates * hidden_size, proj_size or hidden_size
        # Per layer and direction, the parameter names in _SLOTS order ("" where absent).
        self._weight_names: list[list[str]] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * directions
            for direction in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (G, layer_input), "weight_hh": (G, out_size)}
                if bias:
                    shapes |= {"bias_ih": (G,), "bias_hh": (G,)}
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                if peephole:
                    shapes |= {p: (hidden_size,) for p in ("weight_ci", "weight_cf", "weight_co")}
                for name, shape in shapes.items():  # torch.nn's registration (state_dict) order
                    self.register_parameter(name + sfx, nn.Parameter(torch.empty(shape, **factory)))
                self._weight_names.append([s + sfx if s in shapes else "" for s in _SLOTS])
        self.reset_parameters()

    # ------------------------------------------------------------------ torch.nn API
    def reset_parameters(self) -> None:
        _uniform_init(self, self.hidden_size)

    def flatten_parameters(self) -> None:
        """No-op, for code written against torch.nn (there is no cuDNN weight buffer here)."""

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, n) for n in names if n] for names in self._weight_names]

    def extra_repr(self) -> str:
        shown = [("proj_size", 0), ("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                 ("bidirectional", False), ("fused", True)]
        return ", ".join([f"{self.input_size}, {self.hidden_size}"] + [
            f"{k}={getattr(self, k)}" for k, default in shown if getattr(self, k) != default
        ])

    def __prepare_scriptable__(self):
        # TorchScript cannot look parameters up by a computed name: hand it the lists.
        self._script_weights = [self._weights(i) for i in range(len(self._weight_names))]
        return self

    def _weights(self, index: int) -> list[Tensor | None]:
        if torch.jit.is_scripting():
            return self._script_weights[index]
        # Looked up on every call, so reassigned parameters (and functional_call) take effect.
        return [getattr(self, n) if n else None for n in self._weight_names[index]]

    def _step_options(self) -> tuple[str, bool]:
        """(nonlinearity, reset_after) for the step functions."""
        return "tanh", True

    # ------------------------------------------------------------------ forward
    def _forward(
        self,
        input: Tensor,
        hx: list[Tensor] | None,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """``input`` as the user gave it (or a PackedSequence's data and indices);
        ``hx`` the initial states ``[h]`` or ``[h, c]``. Returns the output in the input's
        layout and the final states, checked as torch.nn checks them."""
        name = self.mode
        unbatched = False
        sizes: list[int] = []
        if batch_sizes is None:
            if input.dim() not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D instead")
            unbatched = input.dim() == 2
            if hx is not None:
                for state in hx:
                    if state.dim() != input.dim():
                        raise RuntimeError(
                            f"For {input.dim()}-D input, the initial states should also be {input.dim()}-D "
                            f"but got a {state.dim()}-D tensor"
                        )
                if unbatched:
                    hx = [state.unsqueeze(1) for state in hx]
            x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)
            if x.shape[0] == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            batch = x.shape[1]
            sizes = [batch] * x.shape[0]
            data = x.reshape(x.shape[0] * batch, x.shape[2])
        else:
            data = input
            packed_sizes: list[int] = batch_sizes.tolist()
            sizes = packed_sizes
            batch = sizes[0]
        check_input(self.mode, data, self.weight_ih_l0.dtype, self.input_size)

        layers = self.num_layers * self.num_directions
        shapes = [[layers, batch, self.proj_size if self.proj_size > 0 else self.hidden_size]]
        if self.mode == "LSTM":
            shapes.append([layers, batch, self.hidden_size])
        if hx is None:
            hx = [data.new_zeros(shape) for shape in shapes]
        else:
            for state, shape in zip(hx, shapes):
                if list(state.shape) != shape:
                    raise RuntimeError(f"Expected hidden size {shape}, got {list(state.shape)}")
            if sorted_indices is not None:  # into the packed (sorted) order
                hx = [state.index_select(1, sorted_indices) for state in hx]

        out, final = self._layers(data, sizes, hx)

        if unsorted_indices is not None:
            final = [state.index_select(1, unsorted_indices) for state in final]
        if batch_sizes is None:
            out = out.view(len(sizes), batch, out.shape[-1])
            if unbatched:
                out, final = out.squeeze(1), [state.squeeze(1) for state in final]
            elif self.batch_first:
                out = out.transpose(0, 1)
        return out, final

    def _layers(self, x: Tensor, sizes: list[int], hx: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Layer by layer, each direction over the previous layer's outputs (N, ·)."""
        nonlinearity, reset_after = self._step_options()
        fast = False
        if not torch.jit.is_scripting():
            fast = self.fused and self.proj_size == 0 and _recurrent_fast.usable(x)
        finals: list[list[Tensor]] = [[] for _ in hx]
        for layer in range(self.num_layers):
            outs: list[Tensor] = []
            for d in range(self.num_directions):
                idx = layer * self.num_directions + d
                state0 = [state[idx] for state in hx]
                weights = self._weights(idx)
                if not torch.jit.is_scripting() and fast:
                    c0 = state0[1] if len(state0) > 1 else None
                    out, h_n, c_n = _recurrent_fast.layer(
                        self.mode, x, weights, state0[0], c0, sizes, d == 1, nonlinearity, reset_after
                    )
                    final = [h_n] if c_n is None else [h_n, c_n]
                else:
                    out, final = recurrent_layer(
                        self.mode, x, state0, weights, sizes, d == 1, nonlinearity, reset_after
                    )
                outs.append(out)
                for i in range(len(final)):
                    finals[i].append(final[i])
            x = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, [torch.stack(f) for f in finals]


class _OneState(_RecurrentBase):
    """RNN and GRU: one state, ``forward(input, hx=None) -> (output, h_n)``."""

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            out, final = self._forward(data, None if hx is None else [hx], batch_sizes, sorted_indices, unsorted_indices)
            return PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices), final[0]
        out, final = self._forward(input, None if hx is None else [hx])
        return out, final[0]


class RNN(_OneState):
    r"""Elman (1990) recurrent network with torch.nn.RNN's interface.

    .. math:: h_t = \mathrm{act}(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh}),
              \quad \mathrm{act} \in \{\tanh, \mathrm{ReLU}\}

    Same constructor arguments, ``forward(input, hx=None) -> (output, h_n)`` and
    state_dict keys as :class:`torch.nn.RNN`; ``fused`` picks the implementation (see
    the module docstring).
    """

    mode, gates = "RNN", 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        fused: bool = True,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype,
            fused=fused,
        )

    def _step_options(self) -> tuple[str, bool]:
        return self.nonlinearity, True

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + ", nonlinearity='relu'"


class GRU(_OneState):
    r"""Gated recurrent unit (Cho et al. 2014) with torch.nn.GRU's interface.

    Gate order in the weights is r, z, n (reset, update, candidate), as in torch.nn.
    With ``reset_after=True`` (default; torch.nn's and cuDNN's convention) the reset
    gate scales the *result* of the recurrent product::

        r_t = sigmoid(x_t W_ir^T + b_ir + h_{t-1} W_hr^T + b_hr)
        z_t = sigmoid(x_t W_iz^T + b_iz + h_{t-1} W_hz^T + b_hz)
        n_t = tanh(x_t W_in^T + b_in + r_t * (h_{t-1} W_hn^T + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    With ``reset_after=False`` (Cho et al. 2014, eq. 5-8) it scales the state *before*
    the product, which costs a second matrix product per step::

        n_t = tanh(x_t W_in^T + b_in + (r_t * h_{t-1}) W_hn^T + b_hn)

    The update uses the convention ``h_t = (1 - z_t) * n_t + z_t * h_{t-1}``: ``z`` is
    the fraction of the *old* state kept (Cho et al. 2014 and torch.nn). Chung et al.
    (2014) and some lecture slides swap the roles, ``h_t = z_t * n_t + (1 - z_t) h_{t-1}``;
    the two are the same model with ``z -> 1 - z`` (negated update-gate weights and bias).

    Same constructor arguments, ``forward(input, hx=None) -> (output, h_n)`` and
    state_dict keys as :class:`torch.nn.GRU` (with either ``reset_after``).
    """

    mode, gates = "GRU", 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        reset_after: bool = True,
        fused: bool = True,
    ) -> None:
        self.reset_after = reset_after
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype,
            fused=fused,
        )

    def _step_options(self) -> tuple[str, bool]:
        return "tanh", self.reset_after

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.reset_after else s + ", reset_after=False"


class PeepholeLSTM(_RecurrentBase):
    r"""LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)
    with the peephole connections of Gers & Schmidhuber (2000), torch.nn.LSTM's interface::

        i_t = sigmoid(x_t W_ii^T + b_ii + h_{t-1} W_hi^T + b_hi + w_ci * c_{t-1})
        f_t = sigmoid(x_t W_if^T + b_if + h_{t-1} W_hf^T + b_hf + w_cf * c_{t-1})
        g_t = tanh   (x_t W_ig^T + b_ig + h_{t-1} W_hg^T + b_hg)
        c_t = f_t * c_{t-1} + i_t * g_t
        o_t = sigmoid(x_t W_io^T + b_io + h_{t-1} W_ho^T + b_ho + w_co * c_t)
        h_t = o_t * tanh(c_t)

    The peepholes ``w_ci, w_cf, w_co`` are vectors (diagonal weight matrices, ``*`` is
    elementwise); the input and forget gates see the previous cell state, the output
    gate the new one. They are the parameters ``weight_ci_l{k}``, ``weight_cf_l{k}``,
    ``weight_co_l{k}`` (``_reverse`` for the backward direction); with them at zero, or
    with ``peephole=False`` (no such parameters), this is exactly torch.nn.LSTM.
    A torch.nn.LSTM state_dict loads with ``load_state_dict(sd, strict=False)``, the
    peephole vectors being the only missing keys.

    ``proj_size > 0`` (LSTMP, Sak et al. 2014) projects the hidden state,
    ``h_t = (o_t * tanh(c_t)) W_hr^T`` with ``weight_hr_l{k}`` of shape
    ``(proj_size, hidden_size)``, as torch.nn.LSTM: ``h`` then has ``proj_size``
    features and ``c`` keeps ``hidden_size``.

    ``forward(input, hx=None) -> (output, (h_n, c_n))`` as torch.nn.LSTM.
    """

    mode, gates = "LSTM", 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        peephole: bool = True,
        fused: bool = True,
    ) -> None:
        self.peephole = peephole
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size, device, dtype,
            fused=fused, peephole=peephole,
        )

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        states = None if hx is None else [hx[0], hx[1]]
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            out, final = self._forward(data, states, batch_sizes, sorted_indices, unsorted_indices)
            return PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices), (final[0], final[1])
        out, final = self._forward(input, states)
        return out, (final[0], final[1])

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.peephole else s + ", peephole=False"
