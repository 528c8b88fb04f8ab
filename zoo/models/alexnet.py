"""AlexNet of Krizhevsky, Sutskever and Hinton (2012), "ImageNet classification with
deep convolutional neural networks", NeurIPS 25.

The layer sizes are those of the single-GPU variant of Krizhevsky (2014), "One weird
trick for parallelizing convolutional neural networks" (arXiv:1404.5997), which is
what torchvision ships and what its checkpoints hold: 64-192-384-256-256 filters
instead of the paper's two-tower 96-256-384-384-256, and no local response
normalization (it was dropped once it was found to add nothing with ReLUs).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from ..constants import IMAGENET_STATS
from ..registry import register_model

__all__ = ["AlexNet", "alexnet", "AlexNet2012", "alexnet_2012"]

Stem = Literal["imagenet", "small"]


class AlexNet(nn.Module):
    """Five convolutions with overlapping max-pooling, then three fully connected layers.

    ``stem="imagenet"`` (default) is torchvision's network: an 11x11 stride-4 first
    convolution and 3x3 stride-2 pools turn 224x224 into a 6x6x256 map.

    ``stem="small"`` is for 28-64 px images (MNIST, CIFAR). An 11x11/4 convolution
    followed by three stride-2 pools would shrink a 32x32 image to nothing, so the
    first convolution becomes 3x3 stride 1 and the pools get padding 1 (still 3x3
    stride 2, the paper's overlapping pooling): 32 -> 16 -> 8 -> 4 and 28 -> 14 -> 7
    -> 4, so both land on a 4x4x256 map. The classifier then reads 256*4*4 = 4096
    features; everything else (filters, dropout, 4096-wide hidden layers) is kept.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: Stem = "imagenet",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if stem == "imagenet":
            conv1 = nn.Conv2d(in_chans, 64, kernel_size=11, stride=4, padding=2)
            pool_padding, pooled, stride = 0, 6, 4
        elif stem == "small":
            conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1)
            pool_padding, pooled, stride = 1, 4, 1
        else:
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")

        def pool() -> nn.MaxPool2d:
            return nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding)

        self.features = nn.Sequential(
            conv1,
            nn.ReLU(inplace=True),
            pool(),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            pool(),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            pool(),
        )
        # Identity at the native input size; lets other sizes reach the same classifier.
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * pooled * pooled, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        self.num_classes, self.num_features = num_classes, 4096
        # The last map at each stride: conv1, conv2, conv5 (after their ReLUs), the last pool.
        self.feature_info = [
            dict(num_chs=64, reduction=stride, module="features.1"),
            dict(num_chs=192, reduction=2 * stride, module="features.4"),
            dict(num_chs=256, reduction=4 * stride, module="features.11"),
            dict(num_chs=256, reduction=8 * stride, module="features.12"),
        ]
        # No explicit init: torchvision keeps PyTorch's default (Kaiming-uniform, a=sqrt(5))
        # for AlexNet, and so do we so that both start from the same distribution. That
        # init shrinks the signal about 2x per layer, so from scratch AlexNet starts
        # slowly and wants a modest learning rate (0.01 with SGD, as in the paper).

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last pooled map, ``(B, 256, 6, 6)`` at 224 px (``(B, 256, 4, 4)`` small at 28-32 px)."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, flatten, the two 4096-wide layers, then the output layer unless ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        for layer in self.classifier[:-1]:
            x = layer(x)
        return x if pre_logits else self.classifier[-1](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        """A new output layer for ``num_classes`` (0: none, the model returns the 4096 features)."""
        self.num_classes = num_classes
        self.classifier[-1] = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


@register_model(
    family="alexnet",
    paper="Krizhevsky et al. 2012, ImageNet classification with deep convolutional neural networks",
    input_size=(3, 224, 224),
    first_conv="features.0",
    classifier="classifier.6",
    mean=IMAGENET_STATS[0],
    std=IMAGENET_STATS[1],
    interpolation="bilinear",
    crop_pct=0.875,
)
def alexnet(
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    stem: Stem = "imagenet",
    dropout: float = 0.5,
) -> AlexNet:
    """AlexNet (61,100,840 parameters at the defaults); ``stem="small"`` for 28-64 px inputs."""
    return AlexNet(num_classes=num_classes, in_chans=in_chans, stem=stem, dropout=dropout)


# ---------------------------------------------------------------------------------
# AlexNet as published
# ---------------------------------------------------------------------------------


def local_response_norm() -> nn.LocalResponseNorm:
    """Section 3.3: b_i = a_i / (k + alpha * sum_j a_j^2)^beta over the n maps around i,
    with k = 2, n = 5, alpha = 1e-4, beta = 0.75.

    ``torch.nn.LocalResponseNorm`` divides its ``alpha`` by ``n`` (Caffe's convention,
    which is why Caffe's AlexNet ends up with alpha/5); the paper does not, so the
    paper's alpha is passed times n.
    """
    n, alpha = 5, 1e-4
    return nn.LocalResponseNorm(size=n, alpha=n * alpha, beta=0.75, k=2.0)


def require_227(x: torch.Tensor) -> torch.Tensor:
    """The input as it is when 227x227, the size the 2012 network's layer sizes assume."""
    if tuple(x.shape[-2:]) != (227, 227):
        raise ValueError(f"AlexNet (2012) takes 227x227 inputs, got {x.shape[-2]}x{x.shape[-1]}")
    return x


# A leaf of torch.fx traces (torchvision's create_feature_extractor): it branches on the input's size.
torch.fx.wrap("require_227")


class AlexNet2012(nn.Module):
    """AlexNet as published: Krizhevsky, Sutskever and Hinton (2012), section 3 and figure 2.

    Five convolutions, 96-256-384-384-256 kernels, and three fully connected layers,
    4096-4096-classes, with ReLU after each but the last::

        conv1 96 @ 11x11/4 on 227x227x3 -> 55x55  ReLU, LRN, max-pool 3x3/2 -> 27x27
        conv2 256 @ 5x5 pad 2, 2 groups  -> 27x27  ReLU, LRN, max-pool 3x3/2 -> 13x13
        conv3 384 @ 3x3 pad 1            -> 13x13  ReLU
        conv4 384 @ 3x3 pad 1, 2 groups  -> 13x13  ReLU
        conv5 256 @ 3x3 pad 1, 2 groups  -> 13x13  ReLU, max-pool 3x3/2 -> 6x6
        fc6 9216 -> 4096, ReLU, dropout 0.5; fc7 4096 -> 4096, ReLU, dropout 0.5; fc8 -> 1000

    The two towers of figure 2 (one per GPU) are the ``groups=2`` of conv2, conv4 and
    conv5: each half of their kernels reads only the maps of its own tower, while
    conv3 and the fully connected layers read both. Local response normalization
    (section 3.3, :func:`local_response_norm`) follows the ReLU of conv1 and conv2, and
    the pools overlap (3x3 windows, stride 2; section 3.4). Dropout (section 4.2) zeroes
    the outputs of fc6 and fc7. 60,965,224 parameters with 1000 classes. Weights start
    from N(0, 0.01); biases of conv2, conv4, conv5, fc6 and fc7 at 1, the others at 0
    (section 5).

    Departures: none in the network. The input is 227x227, which the layer sizes
    need (the paper's text says 224x224, which an 11x11 stride-4 convolution cannot
    map to 55x55); other sizes are refused. The paper's single network is one
    module here, not split across devices: ``groups=2`` gives the same function.
    Training (SGD with momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 on
    plateaus; PCA colour augmentation) is the engine's business, not the model's.

    Interface: ``forward_features`` gives conv5's pooled 256x6x6 maps; ``forward_head``
    runs fc6-fc8, and with ``pre_logits=True`` stops at fc7's 4096 outputs (after its
    dropout); ``get_classifier`` / ``reset_classifier`` are fc8.
    """

    def __init__(self, *, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes

        def pool() -> nn.MaxPool2d:
            return nn.MaxPool2d(kernel_size=3, stride=2)

        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_chans, 96, kernel_size=11, stride=4)),
            ("relu1", nn.ReLU(inplace=True)),
            ("norm1", local_response_norm()),
            ("pool1", pool()),
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2)),
            ("relu2", nn.ReLU(inplace=True)),
            ("norm2", local_response_norm()),
            ("pool2", pool()),
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2)),
            ("relu5", nn.ReLU(inplace=True)),
            ("pool5", pool()),
        ]))
        self.fc6 = nn.Linear(256 * 6 * 6, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.dropout = nn.Dropout(p=dropout)
        self.fc8: nn.Module = nn.Linear(4096, num_classes) if num_classes else nn.Identity()
        self.num_features = 4096
        # The last map at each stride: conv1 55x55, conv2 27x27, conv5 13x13, pool5 6x6.
        self.feature_info = [
            dict(num_chs=96, reduction=4, module="features.relu1"),
            dict(num_chs=256, reduction=8, module="features.relu2"),
            dict(num_chs=256, reduction=16, module="features.relu5"),
            dict(num_chs=256, reduction=32, module="features.pool5"),
        ]
        self._init_weights()

    def _init_weights(self) -> None:
        f = self.features
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
                # Section 5: a positive bias gives the ReLUs positive inputs early on.
                ones = m in (f.conv2, f.conv4, f.conv5, self.fc6, self.fc7)
                nn.init.constant_(m.bias, 1.0 if ones else 0.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(require_227(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc6(x), inplace=True))
        x = self.dropout(F.relu(self.fc7(x), inplace=True))
        return x if pre_logits else self.fc8(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc8

    def reset_classifier(self, num_classes: int) -> None:
        """A new fc8 for ``num_classes`` (0: none, forward gives fc7's outputs), initialized as in section 5."""
        self.num_classes = num_classes
        if num_classes:
            self.fc8 = nn.Linear(4096, num_classes).to(self.fc7.weight)
            nn.init.normal_(self.fc8.weight, mean=0.0, std=0.01)
            nn.init.zeros_(self.fc8.bias)
        else:
            self.fc8 = nn.Identity()


@register_model(
    family="alexnet",
    paper="Krizhevsky et al. 2012, ImageNet classification with deep convolutional neural networks (section 3)",
    input_size=(3, 227, 227),
    first_conv="features.conv1",
    classifier="fc8",
    mean=IMAGENET_STATS[0],
    std=IMAGENET_STATS[1],
    interpolation="bilinear",
    crop_pct=0.875,
    notes="AlexNet as published; alexnet is torchvision's single-GPU reading (Krizhevsky 2014). Here: "
          "96-256-384-384-256 kernels instead of 64-192-384-256-256; conv2, conv4 and conv5 split in two "
          "groups as on the paper's two GPUs; local response normalization (k=2, n=5, alpha=1e-4, "
          "beta=0.75) after conv1 and conv2; dropout on the outputs of fc6 and fc7; N(0, 0.01) init with "
          "unit biases; 227x227 input only. 60,965,224 parameters (alexnet: 61,100,840).",
)
def alexnet_2012(*, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5) -> AlexNet2012:
    """AlexNet as published in 2012 (60,965,224 parameters); see :class:`AlexNet2012`."""
    return AlexNet2012(num_classes=num_classes, in_chans=in_chans, dropout=dropout)
