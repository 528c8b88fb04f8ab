"""Residual networks of He, Zhang, Ren and Sun (2016), "Deep residual learning for
image recognition", CVPR (arXiv:1512.03385).

Two families live here:

* ``resnet18`` ... ``resnet152``: the ImageNet networks of the paper's Table 1, laid
  out exactly as torchvision's (same module names, so its checkpoints load). As in
  torchvision, the bottleneck block strides in its 3x3 convolution rather than in
  its first 1x1 ("ResNet v1.5"): the paper's placement throws away three quarters
  of the input before looking at it, and the 3x3 placement is about 0.5% better.
  Projection shortcuts (option B) are used where the shape changes.
* ``resnet20`` ... ``resnet110``: the CIFAR-10 networks of section 4.2, 6n+2 layers
  in three stages of 16, 32 and 64 filters on 32x32 inputs, with parameter-free
  identity shortcuts that subsample and zero-pad the new channels (option A).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..constants import CIFAR10_STATS, IMAGENET_STATS
from ..registry import register_model

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "CifarResNet",
    "ZeroPadShortcut",
    "conv1x1",
    "conv3x3",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
]

Stem = Literal["imagenet", "small"]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1. No bias: a batch norm follows and would cancel it."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution (channel projection), no bias for the same reason."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        # The first convolution carries the stride, like the shortcut, so both halves agree in size.
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        # In place: `out` is ours (a fresh BN output), and this saves one activation-sized buffer.
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (by 4), and a shortcut; the stride sits in the 3x3 (v1.5)."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


Block = type[BasicBlock] | type[Bottleneck]


def _init_resnet(model: nn.Module, *, zero_init_residual: bool, conv_mode: Literal["fan_in", "fan_out"]) -> None:
    """He-normal convolutions, unit/zero batch norms; optionally zero the last BN of each block.

    ``zero_init_residual`` starts every residual branch at zero so each block is the
    identity at step 0 (Goyal et al. 2017, "Accurate, large minibatch SGD"), which
    helps large-batch training a little.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)


class ResNet(nn.Module):
    """The ImageNet ResNet: stem, four stages of residual blocks (64-512 planes), pool, fc.

    ``stem="imagenet"`` (default) is torchvision's: a 7x7 stride-2 convolution and a
    3x3 stride-2 max-pool take 224x224 to 56x56 before the first stage.

    ``stem="small"`` is for 28-64 px images (MNIST, CIFAR): that 4x reduction would
    leave a 32x32 image 1x1 by the last stage, so the first convolution becomes 3x3
    stride 1 and the max-pool is dropped (the common CIFAR adaptation, e.g. the
    ResNet-18 of Zhang et al. 2018, "mixup"). A 32x32 image then reaches the stages
    at 32, 16, 8 and 4 px (28x28: 28, 14, 7, 4). Only ``conv1.weight`` changes shape.
    """

    def __init__(
        self,
        block: Block,
        layers: list[int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_chans, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        elif stem == "small":
            self.conv1 = nn.Conv2d(in_chans, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = (
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        )
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self.num_classes, self.num_features = num_classes, 512 * block.expansion
        # The stem reduces by 2 (conv1) then 4 (max-pool), the small stem not at all.
        conv1_stride, stem_stride = (2, 4) if stem == "imagenet" else (1, 1)
        self.feature_info = [dict(num_chs=64, reduction=conv1_stride, module="relu")] + [
            dict(num_chs=planes * block.expansion, reduction=stem_stride * 2**i, module=f"layer{i + 1}")
            for i, planes in enumerate((64, 128, 256, 512))
        ]
        # fan_out as torchvision (and Caffe's MSRA filler for these nets); fc keeps nn.Linear's default.
        _init_resnet(self, zero_init_residual=zero_init_residual, conv_mode="fan_out")

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # Option B: a strided 1x1 projection where the shape changes, identity elsewhere.
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers: list[nn.Module] = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's map, ``(B, 512 * expansion, 7, 7)`` at 224 px."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, then ``fc`` unless ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` for ``num_classes`` (0: none, the model returns the pooled features)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


_PAPER = "He et al. 2016, Deep residual learning for image recognition"
# What every ImageNet ResNet entry declares (torchvision's preprocessing).
_ENTRY: dict[str, Any] = dict(
    input_size=(3, 224, 224), first_conv="conv1", classifier="fc",
    mean=IMAGENET_STATS[0], std=IMAGENET_STATS[1], interpolation="bilinear", crop_pct=0.875,
)


def _resnet(
    block: Block, layers: list[int], num_classes: int, in_chans: int, stem: Stem, zero_init_residual: bool
) -> ResNet:
    return ResNet(
        block, layers, num_classes=num_classes, in_chans=in_chans, stem=stem, zero_init_residual=zero_init_residual
    )


@register_model(family="resnet", paper=_PAPER, **_ENTRY)
def resnet18(
    *, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-18, basic blocks [2, 2, 2, 2] (11,689,512 parameters); ``stem="small"`` for 28-64 px."""
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_chans, stem, zero_init_residual)


@register_model(family="resnet", paper=_PAPER, **_ENTRY)
def resnet34(
    *, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-34, basic blocks [3, 4, 6, 3] (21,797,672 parameters); ``stem="small"`` for 28-64 px."""
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_chans, stem, zero_init_residual)


@register_model(family="resnet", paper=_PAPER, **_ENTRY)
def resnet50(
    *, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-50, bottlenecks [3, 4, 6, 3] (25,557,032 parameters); ``stem="small"`` for 28-64 px."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_chans, stem, zero_init_residual)


@register_model(family="resnet", paper=_PAPER, **_ENTRY)
def resnet101(
    *, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-101, bottlenecks [3, 4, 23, 3] (44,549,160 parameters); ``stem="small"`` for 28-64 px."""
    return _resnet(Bottleneck, [3, 4, 23, 3], num_classes, in_chans, stem, zero_init_residual)


@register_model(family="resnet", paper=_PAPER, **_ENTRY)
def resnet152(
    *, num_classes: int = 1000, in_chans: int = 3, stem: Stem = "imagenet", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-152, bottlenecks [3, 8, 36, 3] (60,192,808 parameters); ``stem="small"`` for 28-64 px."""
    return _resnet(Bottleneck, [3, 8, 36, 3], num_classes, in_chans, stem, zero_init_residual)


# ---------------------------------------------------------------------------------
# CIFAR ResNets (section 4.2)
# ---------------------------------------------------------------------------------
class ZeroPadShortcut(nn.Module):
    """Option A shortcut: keep every ``stride``-th pixel and append zero channels.

    It has no parameters, which is the point of the paper's CIFAR comparison: the
    deeper nets win on depth alone, not on extra projection weights.
    """

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads from the last dimension backwards: (W, W, H, H, C_before, C_after).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


class CifarResNet(nn.Module):
    """The 6n+2-layer CIFAR ResNet: a 3x3 conv, three stages of n basic blocks, pool, fc.

    Stages have 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps (28x28 inputs
    work too: 28, 14, 7). Shortcuts are identities, subsampled and zero-padded
    (option A) where a stage doubles the filters and halves the map, so every weight
    sits in a convolution, a batch norm or the final classifier.
    """

    def __init__(
        self,
        depth: int,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        widths: tuple[int, int, int] = (16, 32, 64),
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, ...), got depth {depth}")
        n = (depth - 2) // 6
        self.inplanes = widths[0]
        self.conv1 = conv3x3(in_chans, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(widths[0], n, stride=1)
        self.layer2 = self._make_layer(widths[1], n, stride=2)
        self.layer3 = self._make_layer(widths[2], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        self.num_classes, self.num_features = num_classes, widths[2]
        self.feature_info = [dict(num_chs=widths[0], reduction=1, module="relu")] + [
            dict(num_chs=w, reduction=2**i, module=f"layer{i + 1}") for i, w in enumerate(widths)
        ]
        # The paper uses He et al. (2015) init as in Caffe's MSRA filler, whose default
        # normalizes by fan_in.
        _init_resnet(self, zero_init_residual=zero_init_residual, conv_mode="fan_in")

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = ZeroPadShortcut(stride, planes - self.inplanes)
        layers: list[nn.Module] = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        """The last stage's map, ``(B, 64, 8, 8)`` at 32 px."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        return self.layer3(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, then ``fc`` unless ``pre_logits``."""
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` for ``num_classes`` (0: none, the model returns the pooled features)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


_CIFAR_PAPER = "He et al. 2016, Deep residual learning for image recognition (sec. 4.2, CIFAR-10)"
# The paper feeds whole 32x32 images: no resize, no crop at test time.
_CIFAR_ENTRY: dict[str, Any] = dict(
    input_size=(3, 32, 32), first_conv="conv1", classifier="fc", mean=CIFAR10_STATS[0], std=CIFAR10_STATS[1],
)


def _cifar(depth: int, num_classes: int, in_chans: int, zero_init_residual: bool) -> CifarResNet:
    return CifarResNet(depth, num_classes=num_classes, in_chans=in_chans, zero_init_residual=zero_init_residual)


@register_model(family="resnet_cifar", paper=_CIFAR_PAPER, **_CIFAR_ENTRY)
def resnet20(*, num_classes: int = 10, in_chans: int = 3, zero_init_residual: bool = False) -> CifarResNet:
    """ResNet-20 for CIFAR, 3 blocks per stage (269,722 parameters; paper: 0.27M, 8.75% error)."""
    return _cifar(20, num_classes, in_chans, zero_init_residual)


@register_model(family="resnet_cifar", paper=_CIFAR_PAPER, **_CIFAR_ENTRY)
def resnet32(*, num_classes: int = 10, in_chans: int = 3, zero_init_residual: bool = False) -> CifarResNet:
    """ResNet-32 for CIFAR, 5 blocks per stage (464,154 parameters; paper: 0.46M, 7.51% error)."""
    return _cifar(32, num_classes, in_chans, zero_init_residual)


@register_model(family="resnet_cifar", paper=_CIFAR_PAPER, **_CIFAR_ENTRY)
def resnet44(*, num_classes: int = 10, in_chans: int = 3, zero_init_residual: bool = False) -> CifarResNet:
    """ResNet-44 for CIFAR, 7 blocks per stage (658,586 parameters; paper: 0.66M, 7.17% error)."""
    return _cifar(44, num_classes, in_chans, zero_init_residual)


@register_model(family="resnet_cifar", paper=_CIFAR_PAPER, **_CIFAR_ENTRY)
def resnet56(*, num_classes: int = 10, in_chans: int = 3, zero_init_residual: bool = False) -> CifarResNet:
    """ResNet-56 for CIFAR, 9 blocks per stage (853,018 parameters; paper: 0.85M, 6.97% error)."""
    return _cifar(56, num_classes, in_chans, zero_init_residual)


@register_model(family="resnet_cifar", paper=_CIFAR_PAPER, **_CIFAR_ENTRY)
def resnet110(*, num_classes: int = 10, in_chans: int = 3, zero_init_residual: bool = False) -> CifarResNet:
    """ResNet-110 for CIFAR, 18 blocks per stage (1,727,962 parameters; paper: 1.7M, 6.43% error)."""
    return _cifar(110, num_classes, in_chans, zero_init_residual)
