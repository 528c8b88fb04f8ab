"""LeNet-5 of LeCun, Bottou, Bengio and Haffner (1998),
"Gradient-based learning applied to document recognition", Proc. IEEE 86(11).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ..constants import MNIST_STATS
from ..registry import register_model

__all__ = ["LeNet5", "lenet5"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
_POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


def pad_to_32(x: torch.Tensor) -> torch.Tensor:
    """A 28x28 input (MNIST) zero-padded by 2 on every side; 32x32 as it is; else an error."""
    size = tuple(x.shape[-2:])
    if size == (28, 28):
        return F.pad(x, (2, 2, 2, 2))
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
