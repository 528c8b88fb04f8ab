"""AlexNet of Krizhevsky, Sutskever and Hinton (2012), "ImageNet classification with
deep convolutional neural networks", NeurIPS 25.

The layer sizes are those of the single-GPU variant of Krizhevsky (2014), "One weird
trick for parallelizing convolutional neural networks" (arXiv:1404.5997), which is
what torchvision ships and what its checkpoints hold: 64-192-384-256-256 filters
instead of the paper's two-tower 96-256-384-384-256, and no local response
normalization (it was dropped once it was found to add nothing with ReLUs).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..constants import IMAGENET_STATS
from ..registry import register_model

__all__ = ["AlexNet", "alexnet"]

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
