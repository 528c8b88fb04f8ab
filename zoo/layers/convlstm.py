"""Convolutional LSTM of Shi, Chen, Wang, Yeung, Wong and Woo (2015), "Convolutional
LSTM Network: A Machine Learning Approach for Precipitation Nowcasting", NeurIPS.

Equation (3) of the paper, with ``*`` a convolution and ``o`` the Hadamard product::

    i_t = sigmoid(W_xi * X_t + W_hi * H_{t-1} + W_ci o C_{t-1} + b_i)
    f_t = sigmoid(W_xf * X_t + W_hf * H_{t-1} + W_cf o C_{t-1} + b_f)
    C_t = f_t o C_{t-1} + i_t o tanh(W_xc * X_t + W_hc * H_{t-1} + b_c)
    o_t = sigmoid(W_xo * X_t + W_ho * H_{t-1} + W_co o C_t + b_o)
    H_t = o_t o tanh(C_t)

Inputs, states and gates are ``(channels, height, width)`` tensors; the convolutions
keep the spatial size ("same" padding, odd kernels), which the paper needs so that
every state has the size of the input.

Parameters follow torch.nn.LSTM's layout, gate order i, f, g (cell input), o:
``weight_ih`` ``(4*hidden, in, k, k)`` holds the four input kernels ``W_x.``,
``weight_hh`` ``(4*hidden, hidden, k, k)`` the four state kernels ``W_h.``, ``bias``
``(4*hidden,)`` the paper's single bias per gate, and ``weight_ci``, ``weight_cf``,
``weight_co`` the Hadamard peepholes. The paper's peepholes are full
``(hidden, height, width)`` tensors, which ties a cell to one frame size; pass
``spatial_size=(height, width)`` for those. The default is one peephole weight per
channel, shared over the frame (``(hidden, 1, 1)``, broadcast), which keeps the cell
size-agnostic. With a 1x1 kernel on a 1x1 frame the cell is exactly
:class:`zoo.layers.PeepholeLSTM`'s cell (``weight_ih[..., 0, 0]`` is its
``weight_ih_l0``, ``bias`` its ``bias_ih_l0 + bias_hh_l0``).

Speed: as in :mod:`zoo.layers.recurrent`, the input convolution ``W_x * X_t`` of all
time steps is one convolution over a ``(T*B)`` batch; only ``W_h * H_{t-1}`` runs in the
time loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvLSTMCell", "ConvLSTM"]

State = tuple[Tensor, Tensor]


def _pair(k: int | Sequence[int]) -> tuple[int, int]:
    pair = (k, k) if isinstance(k, int) else tuple(k)
    if len(pair) != 2 or any(not isinstance(v, int) or v < 1 or v % 2 == 0 for v in pair):
        raise ValueError(f"kernel_size must be an odd positive int or a pair of them, got {k!r}")
    return pair  # type: ignore[return-value]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: ``cell(x (B, C, H, W), (h, c) = None) -> (h', c')``.

    Args:
        in_channels: channels of the input frames (0 for a cell driven by its state
            alone, as the first layer of Shi et al.'s forecasting network; it has no
            ``weight_ih`` then).
        hidden_channels: channels of ``H`` and ``C``.
        kernel_size: odd kernel of both the input and the state convolutions.
        bias: learn the gate biases.
        peephole: the Hadamard terms ``W_c. o C``; ``False`` gives a plain ConvLSTM.
        spatial_size: ``(height, width)`` for the paper's per-location peepholes;
            ``None`` for per-channel ones.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        kernel_size: int | Sequence[int] = 3,
        bias: bool = True,
        peephole: bool = True,
        spatial_size: Sequence[int] | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if in_channels < 0 or hidden_channels < 1:
            raise ValueError(f"need in_channels >= 0 and hidden_channels >= 1, got {in_channels}, {hidden_channels}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.kernel_size = _pair(kernel_size)
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        self.peephole = peephole
        self.spatial_size = tuple(spatial_size) if spatial_size is not None else None
        gates = 4 * hidden_channels
        if in_channels:
            self.weight_ih = nn.Parameter(torch.empty(gates, in_channels, *self.kernel_size, **factory))
        else:
            self.register_parameter("weight_ih", None)
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_channels, *self.kernel_size, **factory))
        self.bias = nn.Parameter(torch.empty(gates, **factory)) if bias else None
        peep_shape = (hidden_channels, *(self.spatial_size or (1, 1)))
        for name in ("weight_ci", "weight_cf", "weight_co"):
            value = nn.Parameter(torch.empty(peep_shape, **factory)) if peephole else None
            self.register_parameter(name, value)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch.nn.LSTM's rule U(-1/sqrt(fan), 1/sqrt(fan)) with the recurrent fan-in
        # hidden * k * k: a 1x1 ConvLSTM starts out distributed exactly like nn.LSTM.
        bound = 1.0 / math.sqrt(self.hidden_channels * self.kernel_size[0] * self.kernel_size[1])
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}"
        if self.bias is None:
            s += ", bias=False"
        if not self.peephole:
            s += ", peephole=False"
        if self.spatial_size is not None:
            s += f", spatial_size={self.spatial_size}"
        return s

    def input_gates(self, x: Tensor) -> Tensor:
        """``W_x * x + b`` for a ``(N, in_channels, H, W)`` batch (any number of frames)."""
        if self.weight_ih is None:
            gates = x.new_zeros(x.shape[0], 4 * self.hidden_channels, *x.shape[-2:])
            return gates if self.bias is None else gates + self.bias.view(1, -1, 1, 1)
        return F.conv2d(x, self.weight_ih, self.bias, padding=self.padding)

    def init_state(self, x: Tensor) -> State:
        zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
        return zeros, zeros

    def step(self, gx: Tensor, state: State) -> State:
        """Advance one step given the input gates ``gx`` from :meth:`input_gates`."""
        h, c = state
        gates = gx + F.conv2d(h, self.weight_hh, None, padding=self.padding)
        i, f, g, o = gates.chunk(4, 1)
        if self.peephole:
            i = i + self.weight_ci * c
            f = f + self.weight_cf * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.peephole:
            o = o + self.weight_co * c
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, input: Tensor, hx: State | None = None) -> State:
        if input.dim() != 4 or input.shape[1] != self.in_channels:
            raise ValueError(
                f"ConvLSTMCell expects input (B, {self.in_channels}, H, W), got {tuple(input.shape)}"
            )
        return self.step(self.input_gates(input), hx if hx is not None else self.init_state(input))


class ConvLSTM(nn.Module):
    """A stack of :class:`ConvLSTMCell` run over a sequence of frames.

    ``forward(input, hx=None) -> (output, states)``:

    * ``input``: ``(T, B, C, H, W)``, or ``(B, T, C, H, W)`` with ``batch_first=True``;
    * ``hx``: ``None`` (zeros) or one ``(h, c)`` pair per layer, each ``(B, hidden_l, H, W)``;
    * ``output``: every step's ``H`` of the last layer, ``(T, B, hidden_last, H, W)``
      (batch first if ``batch_first``);
    * ``states``: the last ``(h, c)`` of every layer.

    Args:
        in_channels: channels of the input frames.
        hidden_channels: an int (one per layer, ``num_layers`` of them) or a list, one per layer.
        kernel_size: an odd int, a list with one (int or pair) per layer, or one
            ``(kh, kw)`` pair for every layer.
        num_layers: layers when ``hidden_channels`` is an int (default 1).
        bias, peephole, spatial_size: as in :class:`ConvLSTMCell`.
        batch_first: input and output as ``(B, T, ...)``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int | Sequence[int],
        kernel_size: int | Sequence[int] | Sequence[Sequence[int]] = 3,
        num_layers: int | None = None,
        bias: bool = True,
        batch_first: bool = False,
        peephole: bool = True,
        spatial_size: Sequence[int] | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if isinstance(hidden_channels, int):
            hidden = [hidden_channels] * (num_layers or 1)
        else:
            hidden = list(hidden_channels)
            if num_layers is not None and num_layers != len(hidden):
                raise ValueError(f"num_layers={num_layers} but {len(hidden)} hidden_channels given")
        if not hidden:
            raise ValueError("ConvLSTM needs at least one layer")
        if isinstance(kernel_size, int):
            kernels = [kernel_size] * len(hidden)
        elif len(kernel_size) == len(hidden):  # one per layer (wins when both readings fit)
            kernels = list(kernel_size)
        elif len(kernel_size) == 2 and all(isinstance(k, int) for k in kernel_size):  # one (kh, kw) pair
            kernels = [tuple(kernel_size)] * len(hidden)
        else:
            raise ValueError(f"kernel_size {kernel_size!r} does not fit {len(hidden)} layers")
        self.in_channels = in_channels
        self.hidden_channels = tuple(hidden)
        self.num_layers = len(hidden)
        self.batch_first = batch_first
        channels = [in_channels, *hidden]
        self.cells = nn.ModuleList(
            ConvLSTMCell(channels[i], channels[i + 1], kernels[i], bias, peephole, spatial_size, device, dtype)
            for i in range(len(hidden))
        )

    def forward_all(self, input: Tensor, hx: Sequence[State] | None = None) -> tuple[list[Tensor], list[State]]:
        """Like :meth:`forward` but returns every layer's output sequence, time-major
        ``(T, B, hidden_l, H, W)`` whatever ``batch_first`` says."""
        if input.dim() != 5:
            raise ValueError(f"ConvLSTM expects 5-d input (T, B, C, H, W), got shape {tuple(input.shape)}")
        x = input.transpose(0, 1) if self.batch_first else input
        steps, batch, channels = x.shape[:3]
        if channels != self.in_channels:
            raise ValueError(f"ConvLSTM input has {channels} channels, expected {self.in_channels}")
        if hx is not None and len(hx) != self.num_layers:
            raise ValueError(f"hx must hold one (h, c) per layer ({self.num_layers}), got {len(hx)}")
        size = x.shape[-2:]
        outputs: list[Tensor] = []
        states: list[State] = []
        for layer, cell in enumerate(self.cells):
            # Input convolution of all steps at once; only W_h * H stays in the loop.
            gx = cell.input_gates(x.reshape(steps * batch, x.shape[2], *size)).unflatten(0, (steps, batch))
            state = hx[layer] if hx is not None else cell.init_state(gx[0])
            hs = []
            for t in range(steps):
                state = cell.step(gx[t], state)
                hs.append(state[0])
            x = torch.stack(hs)
            outputs.append(x)
            states.append(state)
        return outputs, states

    def forward(self, input: Tensor, hx: Sequence[State] | None = None) -> tuple[Tensor, list[State]]:
        outputs, states = self.forward_all(input, hx)
        out = outputs[-1]
        return (out.transpose(0, 1) if self.batch_first else out), states
