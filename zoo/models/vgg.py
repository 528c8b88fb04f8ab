"""VGG of Simonyan and Zisserman (2015), "Very deep convolutional networks for
large-scale image recognition", ICLR (arXiv:1409.1556).

Configurations A, B, D and E of the paper's Table 1 are VGG-11, -13, -16 and -19;
the ``_bn`` variants put a batch normalization (Ioffe and Szegedy 2015) after every
convolution, which the paper predates but which lets the deep ones train from
scratch without the paper's stage-wise initialization from shallower nets.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from ..constants import IMAGENET_STATS
from ..registry import register_model

__all__ = ["VGG", "make_layers", "CONFIGS"] + [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]

Stem = Literal["imagenet", "small"]

# Output channels of each 3x3 convolution, "M" a 2x2 stride-2 max-pool (paper, Table 1).
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(
    cfg: list[int | str], *, in_chans: int = 3, batch_norm: bool = False, ceil_mode: bool = False
) -> nn.Sequential:
    """The convolutional trunk as one flat ``nn.Sequential``.

    Flat, not grouped in stages, because torchvision's checkpoints index it so
    (``features.0.weight`` ... ``features.28.weight``).
    """
    layers: list[nn.Module] = []
    channels = in_chans
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode))
            continue
        out = int(v)
        # 3x3 with padding 1 keeps the spatial size: only the pools shrink the map.
        layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=True))
        channels = out
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A stack of 3x3 convolutions in five pooled stages, then three fully connected layers.

    ``stem="imagenet"`` (default) is torchvision's network: five pools take 224x224
    to 7x7x512 and the classifier reads 512*7*7 = 25,088 features.

    ``stem="small"`` is for 28-64 px images (MNIST, CIFAR). The 3x3 padded
    convolutions already work at any size, so only the pooling changes: the five
    pools round up (``ceil_mode``) so that a 28x28 image goes 28 -> 14 -> 7 -> 4 -> 2
    -> 1 instead of vanishing at the fifth pool, and 32x32 goes to 1x1 as well. The
    classifier reads the resulting 512 features (global average pool, an identity at
    28 and 32 px) instead of copying a 1x1 map 49 times into a 25,088-wide layer;
    its hidden layers stay 4096 wide, as in the paper.
    """

    def __init__(
        self,
        cfg: list[int | str],
        *,
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: Stem = "imagenet",
        dropout: float = 0.5,
        init_weights: bool = True,
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        small = stem == "small"
        pooled = 1 if small else 7
        width = [v for v in cfg if v != "M"][-1]
        self.features = make_layers(cfg, in_chans=in_chans, batch_norm=batch_norm, ceil_mode=small)
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.classifier = nn.Sequential(
            nn.Linear(int(width) * pooled * pooled, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        self.num_classes, self.num_features = num_classes, 4096
        self.feature_info = _feature_info(cfg, batch_norm)
        if init_weights:
            self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's scheme: He init for the ReLU convolutions (so that 16-19 plain
        # layers train without the paper's stage-wise warm start), small Gaussian
        # weights for the fully connected layers, zero biases.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last pooled map, ``(B, 512, 7, 7)`` at 224 px."""
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


def _feature_info(cfg: list[int | str], batch_norm: bool) -> list[dict[str, Any]]:
    """The map before each pool (the last ReLU of a stage), then the last pool's output.

    Reductions are those of the 224 px network; the small stem's pools halve the
    map too (rounding up), so they hold for it as well.
    """
    info: list[dict[str, Any]] = []
    index, reduction, channels = 0, 1, 0
    for v in cfg:
        if v == "M":
            info.append(dict(num_chs=channels, reduction=reduction, module=f"features.{index - 1}"))
            index, reduction = index + 1, reduction * 2
        else:
            index, channels = index + (3 if batch_norm else 2), int(v)
    info.append(dict(num_chs=channels, reduction=reduction, module=f"features.{index - 1}"))
    return info


_PAPER = "Simonyan & Zisserman 2015, Very deep convolutional networks for large-scale image recognition"

# What every VGG entry declares (torchvision's ImageNet preprocessing).
_ENTRY: dict[str, Any] = dict(
    input_size=(3, 224, 224), first_conv="features.0", classifier="classifier.6",
    mean=IMAGENET_STATS[0], std=IMAGENET_STATS[1], interpolation="bilinear", crop_pct=0.875,
)


def _vgg(cfg: str, batch_norm: bool, num_classes: int, in_chans: int, stem: Stem, dropout: float) -> VGG:
    return VGG(
        CONFIGS[cfg], batch_norm=batch_norm, num_classes=num_classes, in_chans=in_chans, stem=stem, dropout=dropout
    )


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg11(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-11, configuration A (132,863,336 parameters); ``stem="small"`` for 28-64 px inputs."""
    return _vgg("A", False, num_classes, in_chans, stem, dropout)


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg11_bn(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-11 with batch normalization (132,868,840 parameters)."""
    return _vgg("A", True, num_classes, in_chans, stem, dropout)


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg13(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-13, configuration B (133,047,848 parameters); ``stem="small"`` for 28-64 px inputs."""
    return _vgg("B", False, num_classes, in_chans, stem, dropout)


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg13_bn(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-13 with batch normalization (133,053,736 parameters)."""
    return _vgg("B", True, num_classes, in_chans, stem, dropout)


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg16(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-16, configuration D (138,357,544 parameters); ``stem="small"`` for 28-64 px inputs."""
    return _vgg("D", False, num_classes, in_chans, stem, dropout)


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg16_bn(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-16 with batch normalization (138,365,992 parameters)."""
    return _vgg("D", True, num_classes, in_chans, stem, dropout)


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg19(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-19, configuration E (143,667,240 parameters); ``stem="small"`` for 28-64 px inputs."""
    return _vgg("E", False, num_classes, in_chans, stem, dropout)


@register_model(family="vgg", paper=_PAPER, **_ENTRY)
def vgg19_bn(*, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-19 with batch normalization (143,678,248 parameters)."""
    return _vgg("E", True, num_classes, in_chans, stem, dropout)
