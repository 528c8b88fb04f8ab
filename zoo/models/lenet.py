"""LeNet-5 of LeCun, Bottou, Bengio and Haffner (1998),
"Gradient-based learning applied to document recognition", Proc. IEEE 86(11).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

import torch
import torch.fx
import torch.nn.functional as F
from torch import Tensor, nn

from ..constants import MNIST_STATS
from ..registry import register_model

__all__ = ["LeNet5", "lenet5", "LeNet5_1998", "lenet5_1998", "C3_TABLE", "rbf_prototypes"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
_POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


def pad_to_32(x: torch.Tensor, mode: str = "constant") -> torch.Tensor:
    """A 28x28 input (MNIST) padded by 2 on every side (zeros, or ``F.pad``'s ``mode``);
    32x32 as it is; else an error."""
    size = tuple(x.shape[-2:])
    if size == (28, 28):
        return F.pad(x, (2, 2, 2, 2), mode=mode)
    if size != (32, 32):
        raise ValueError(f"LeNet-5 takes 32x32 (or 28x28, padded by 2) inputs, got {size[0]}x{size[1]}")
    return x


# A leaf of torch.fx traces (torchvision's create_feature_extractor): it branches on the input's size.
torch.fx.wrap("pad_to_32")


class LeNet5(nn.Module):
    """LeNet-5: C1 conv 5x5 -> S2 pool -> C3 conv 5x5 -> S4 pool -> C5 -> F6 -> output.

    The network is defined on 32x32 images; a 28x28 input (MNIST) is zero-padded by 2
    on every side first, which is how the paper fed MNIST to it.

    Parameters at the defaults (1 input channel, 10 classes, full C3 connections)::

        C1  6 @ 5x5 over 1 channel     6 * (1*5*5) + 6     =    156
        C3 16 @ 5x5 over 6 channels   16 * (6*5*5) + 16    =  2,416
        C5 120 units over 16x5x5     120 * 400 + 120       = 48,120
        F6  84 units                  84 * 120 + 84        = 10,164
        out 10 units                  10 * 84 + 10         =    850
                                                     total   61,706

    Departures from the paper, as in every modern re-implementation: C3 connects every
    S2 map (the paper's sparse table, 1,516 weights, was a 1998 compute saving); S2/S4
    are plain pools instead of pools with a trainable coefficient and bias; the output
    is a linear layer instead of Euclidean RBF units; ``tanh`` is the plain one, not
    1.7159 tanh(2x/3). C5 is a 5x5 convolution over a 5x5 map, i.e. a fully connected
    layer, and is written as one.
    """

    def __init__(
        self,
        *,
        in_chans: int = 1,
        num_classes: int = 10,
        channels: tuple[int, int] = (6, 16),
        fc: tuple[int, int] = (120, 84),
        activation: Literal["tanh", "relu"] = "tanh",
        pool: Literal["avg", "max"] = "avg",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {sorted(_POOLS)}, got {pool!r}")
        c1, c3 = channels
        f5, f6 = fc
        act, pool_layer = _ACTIVATIONS[activation], _POOLS[pool]
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, c1, kernel_size=5),  # C1: 32 -> 28
            act(),
            pool_layer(kernel_size=2, stride=2),  # S2: 28 -> 14
            nn.Conv2d(c1, c3, kernel_size=5),  # C3: 14 -> 10
            act(),
            pool_layer(kernel_size=2, stride=2),  # S4: 10 -> 5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c3 * 5 * 5, f5),  # C5
            act(),
            nn.Linear(f5, f6),  # F6
            act(),
            nn.Linear(f6, num_classes),
        )
        self.num_classes, self.num_features = num_classes, f6
        # Reductions count strides only: the unpadded 5x5 convolutions also trim 4 px each.
        self.feature_info = [
            dict(num_chs=c1, reduction=1, module="features.1"),  # C1 28x28
            dict(num_chs=c3, reduction=2, module="features.4"),  # C3 10x10
            dict(num_chs=c3, reduction=4, module="features.5"),  # S4 5x5
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The S4 maps, ``(B, 16, 5, 5)``."""
        return self.features(pad_to_32(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """C5 and F6 on the S4 maps, then the output layer unless ``pre_logits`` (F6's 84 units)."""
        for layer in self.classifier[:-1]:
            x = layer(x)
        return x if pre_logits else self.classifier[-1](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """A new output layer for ``num_classes`` (0: none, the model returns F6's features)."""
        self.num_classes = num_classes
        self.classifier[-1] = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


@register_model(
    family="lenet",
    paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
    input_size=(1, 32, 32),
    first_conv="features.0",
    classifier="classifier.5",
    mean=MNIST_STATS[0],
    std=MNIST_STATS[1],
)
def lenet5(
    *,
    in_chans: int = 1,
    num_classes: int = 10,
    channels: tuple[int, int] = (6, 16),
    fc: tuple[int, int] = (120, 84),
    activation: Literal["tanh", "relu"] = "tanh",
    pool: Literal["avg", "max"] = "avg",
) -> LeNet5:
    """LeNet-5 (61,706 parameters at the defaults)."""
    return LeNet5(
        in_chans=in_chans, num_classes=num_classes, channels=tuple(channels), fc=tuple(fc),
        activation=activation, pool=pool,
    )


# ---------------------------------------------------------------------------------
# LeNet-5 as published (section II.B and Appendix A of the paper)
# ---------------------------------------------------------------------------------

# Table I of the paper: the S2 maps that each of the 16 C3 maps reads. The first six
# read three contiguous maps, the next six four contiguous ones, the next three four
# non-contiguous ones, and the last all six (the paper's cyclic order: 5 is next to 0).
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = A tanh(S a) with A = 1.7159, S = 2/3 (Appendix A).

    The constants make f(1) = 1 and f(-1) = -1, where the second derivative peaks, and
    keep the gain near 1 over the normal operating range.
    """

    summary_kind = "ACT"  # zoo.summary folds it with the other activations

    def forward(self, x: Tensor) -> Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S2 / S4: each unit adds the four inputs of its 2x2 field (the fields do not
    overlap), multiplies the sum by one trainable coefficient and adds one trainable
    bias, both per map: 2 parameters per map."""

    summary_kind = "POOL"

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x: Tensor) -> Tensor:
        # A depthwise 2x2 stride-2 convolution whose four taps share the map's coefficient.
        kernel = self.weight.view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
        return F.conv2d(x, kernel, self.bias, stride=2, groups=x.shape[1])


class SparseConv2d(nn.Module):
    """A convolution in which output map ``j`` sees only the input maps ``table[j]``.

    Output maps with the same fan-in ``k`` are computed together: their input maps are
    gathered side by side and one grouped convolution gives each output map its own
    kernels over its own inputs (``weight{k}``, shaped (maps, k, kh, kw), and ``bias{k}``).
    Only the listed connections exist: with Table I, 60 kernels of 5x5 plus 16 biases,
    1,516 parameters, where a dense C3 has 2,416.
    """

    summary_kind = "CONV"

    def __init__(self, in_channels: int, table: Sequence[Sequence[int]], kernel_size: int) -> None:
        super().__init__()
        self.table = tuple(tuple(sorted(inputs)) for inputs in table)
        if any(not inputs or inputs[0] < 0 or inputs[-1] >= in_channels for inputs in self.table):
            raise ValueError(f"every output map needs input maps in 0..{in_channels - 1}, got {table}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(self.table), kernel_size
        self.fan_ins = sorted({len(inputs) for inputs in self.table})
        order = []
        for k in self.fan_ins:
            maps = [j for j, inputs in enumerate(self.table) if len(inputs) == k]
            order += maps
            gather = torch.tensor([i for j in maps for i in self.table[j]])
            self.register_buffer(f"index{k}", gather, persistent=False)
            weight = torch.empty(len(maps), k, kernel_size, kernel_size)
            self.register_parameter(f"weight{k}", nn.Parameter(weight))
            self.register_parameter(f"bias{k}", nn.Parameter(torch.empty(len(maps))))
        # Where each output map sits in the concatenation of the groups' outputs.
        self.register_buffer("position", torch.tensor(order).argsort(), persistent=False)

    def connections(self) -> Tensor:
        """Boolean (in_channels, out_channels) matrix: True where input map i feeds output map j."""
        table = torch.zeros(self.in_channels, self.out_channels, dtype=torch.bool)
        for j, inputs in enumerate(self.table):
            table[list(inputs), j] = True
        return table

    def forward(self, x: Tensor) -> Tensor:
        parts = []
        for k in self.fan_ins:
            weight, bias = getattr(self, f"weight{k}"), getattr(self, f"bias{k}")
            parts.append(F.conv2d(x[:, getattr(self, f"index{k}")], weight, bias, groups=weight.shape[0]))
        return torch.cat(parts, 1)[:, self.position]


def rbf_prototypes(num_classes: int) -> Tensor:
    """Fixed +1/-1 codes of 84 = 7x12 places for the RBF output units, one row per class.

    The paper draws each class as a stylized 7x12 bitmap of its character. Those bitmaps
    are not published as data, so the codes here are the rows of a Hadamard matrix of
    order 84 (Paley's first construction with q = 83, a prime = 3 mod 4): every entry
    is +1 or -1 and any two rows differ in exactly 42 places, so the classes are as far
    apart, and as evenly, as 84-place codes allow. Classes 84..167 get the negated
    rows. The result depends on nothing but ``num_classes``.
    """
    q, n = 83, 84
    if not 1 <= num_classes <= 2 * n:
        raise ValueError(f"the RBF output has codes for 1..{2 * n} classes, got {num_classes}")
    squares = {(a * a) % q for a in range(1, q)}
    chi = [0] + [1 if a in squares else -1 for a in range(1, q)]  # the quadratic character mod q
    # H = I + [[0, 1^T], [-1, Q]] with the Jacobsthal matrix Q[i][j] = chi(j - i).
    rows = [[1] * n] + [[-1] + [chi[(j - i) % q] for j in range(q)] for i in range(q)]
    for i in range(1, n):
        rows[i][i] = 1
    codes = rows + [[-v for v in row] for row in rows]
    return torch.tensor(codes[:num_classes], dtype=torch.float32)


class RBFOutput(nn.Module):
    """Euclidean RBF units: y_i = sum_j (x_j - w_ij)^2, the squared distance from the
    84 F6 outputs to class i's fixed code (section II.B, eq. 7).

    Returns the *negated* penalties, ``-y``, as logits: the closest code wins an
    argmax, and softmax cross-entropy on ``-y`` is the paper's MAP loss (eq. 9),
    ``y_target + log(sum_i exp(-y_i))``, without its ``exp(-j)`` term (j -> infinity).
    """

    summary_kind = "RBF"

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.out_features = num_classes  # as nn.Linear names it
        # A buffer, not a parameter: the paper fixes the codes so that they cannot
        # collapse onto each other. Saved with the weights, so a checkpoint is self-contained.
        self.register_buffer("prototypes", rbf_prototypes(num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return -(x.unsqueeze(1) - self.prototypes).pow(2).sum(dim=2)


class LeNet5_1998(nn.Module):
    """LeNet-5 as published: LeCun et al. (1998), section II.B, Table I and Appendix A.

    ::

        input 32x32 -> C1 6@28x28 -> S2 6@14x14 -> C3 16@10x10 -> S4 16@5x5
                    -> C5 120 -> F6 84 -> RBF output (one unit per class)

    Trainable parameters at the defaults, 60,000 as the paper counts them::

        C1  6 kernels 5x5 + 6 biases                          156
        S2  6 coefficients + 6 biases                          12
        C3  60 kernels 5x5 (Table I) + 16 biases            1,516
        S4  16 coefficients + 16 biases                        32
        C5  120 kernels 5x5x16 + 120 biases                48,120
        F6  84 x 120 weights + 84 biases                   10,164
        output: fixed codes (a buffer, not trained)             0

    Every layer but the output squashes its weighted sums with 1.7159 tanh(2a/3);
    S2 and S4 are :class:`Subsampling` (a trainable coefficient and bias per map);
    C3 is the sparse :class:`SparseConv2d` over :data:`C3_TABLE`; C5 is a 5x5
    convolution, as in the paper, though on a 5x5 map it is fully connected.
    Weights and biases start uniform in +-2.4 / F, F being the unit's fan-in (Appendix A).

    Departures from the paper:

    * The output codes are rows of a Hadamard matrix (:func:`rbf_prototypes`), not the
      paper's hand-drawn 7x12 character bitmaps, which are not available as data.
    * The output returns ``-y`` (negated RBF penalties) as logits, so the zoo's
      softmax cross-entropy trains it: that is the paper's eq. 9 without the constant
      ``exp(-j)`` inside its log (j -> infinity), and accuracy is argmin of the penalties.
    * A 28x28 input (MNIST) is padded to 32x32 by repeating its border pixels (MNIST's
      border is background, whatever the normalization); the paper padded with
      background. The input scaling is the dataset's (mean 0, unit variance), not the
      paper's -0.1 background / 1.175 ink, which gives about the same statistics.
    * The paper trained online with stochastic diagonal Levenberg-Marquardt for 20
      passes; here training is the engine's (Adam, configs/lenet5_1998_mnist.yaml).

    Interface: ``forward_features`` gives the S4 maps (16x5x5); ``forward_head`` runs
    C5, F6 and the output, and with ``pre_logits=True`` stops at F6's 84 outputs.
    The RBF output is the classifier (:meth:`get_classifier`). It holds no trainable
    parameters, so :meth:`reset_classifier` only swaps in the fixed codes for a new
    number of classes; fine-tuning then adapts F6 and below to them.
    """

    def __init__(self, *, in_chans: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(OrderedDict([
            ("c1", nn.Conv2d(in_chans, 6, kernel_size=5)),
            ("c1_act", ScaledTanh()),
            ("s2", Subsampling(6)),
            ("s2_act", ScaledTanh()),
            ("c3", SparseConv2d(6, C3_TABLE, kernel_size=5)),
            ("c3_act", ScaledTanh()),
            ("s4", Subsampling(16)),
            ("s4_act", ScaledTanh()),
        ]))
        self.head = nn.Sequential(OrderedDict([
            ("c5", nn.Conv2d(16, 120, kernel_size=5)),
            ("c5_act", ScaledTanh()),
            ("flatten", nn.Flatten()),
            ("f6", nn.Linear(120, 84)),
            ("f6_act", ScaledTanh()),
        ]))
        self.output: nn.Module = RBFOutput(num_classes) if num_classes else nn.Identity()
        self.num_features = 84
        self.feature_info = [
            dict(num_chs=6, reduction=1, module="features.c1_act"),  # C1 28x28
            dict(num_chs=16, reduction=2, module="features.c3_act"),  # C3 10x10
            dict(num_chs=16, reduction=4, module="features.s4_act"),  # S4 5x5
        ]
        self._init_weights()

    def _init_weights(self) -> None:
        # Appendix A: uniform in +-2.4/F, F the fan-in of the unit a weight belongs to;
        # a bias counts as the weight from a constant input.
        def uniform(fan_in: int, *params: Tensor) -> None:
            for p in params:
                nn.init.uniform_(p, -2.4 / fan_in, 2.4 / fan_in)

        f, h = self.features, self.head
        uniform(f.c1.weight[0].numel(), f.c1.weight, f.c1.bias)
        uniform(4, f.s2.weight, f.s2.bias)
        for k in f.c3.fan_ins:
            uniform(k * f.c3.kernel_size**2, getattr(f.c3, f"weight{k}"), getattr(f.c3, f"bias{k}"))
        uniform(4, f.s4.weight, f.s4.bias)
        uniform(h.c5.weight[0].numel(), h.c5.weight, h.c5.bias)
        uniform(h.f6.in_features, h.f6.weight, h.f6.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(pad_to_32(x, "replicate"))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.head(x)
        return x if pre_logits else self.output(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.output

    def reset_classifier(self, num_classes: int) -> None:
        """Fixed codes for ``num_classes`` classes (0: no output layer, forward gives F6)."""
        self.num_classes = num_classes
        self.output = RBFOutput(num_classes).to(self.head.f6.weight) if num_classes else nn.Identity()


@register_model(
    family="lenet",
    paper="LeCun et al. 1998, Gradient-based learning applied to document recognition (section II.B)",
    input_size=(1, 32, 32),
    first_conv="features.c1",
    classifier="output",
    mean=MNIST_STATS[0],
    std=MNIST_STATS[1],
    notes="LeNet-5 as published; lenet5 is the modern reading. Here: 1.7159 tanh(2a/3) throughout; "
          "S2/S4 sum 2x2 fields times a trainable coefficient plus a bias per map; C3 connects only "
          "the S2 maps of Table I (1,516 parameters instead of 2,416); the output is Euclidean RBF "
          "units against fixed +1/-1 codes of 84 places (rows of a Hadamard matrix, not the paper's "
          "bitmaps), returned as negated distances so cross-entropy trains them (eq. 9 without exp(-j)). "
          "60,000 trainable parameters (lenet5: 61,706).",
)
def lenet5_1998(*, in_chans: int = 1, num_classes: int = 10) -> LeNet5_1998:
    """LeNet-5 as published in 1998 (60,000 trainable parameters); see :class:`LeNet5_1998`."""
    return LeNet5_1998(in_chans=in_chans, num_classes=num_classes)
