"""GoogLeNet (Inception v1) of Szegedy et al. (2015), "Going deeper with
convolutions", CVPR (arXiv:1409.4842).

Laid out as torchvision's, so its checkpoints load: every convolution is followed
by a batch normalization (eps 1e-3) and has no bias, which the 2014 network
predates; and the "5x5" branch of each Inception module is a 3x3 convolution, a
slip inherited from the TensorFlow-slim port that torchvision's weights come from
(pytorch/vision#906). Both keep the published parameter count, 6,624,904 without
the auxiliary heads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
import torch.fx
import torch.nn.functional as F
from torch import Tensor, nn

from ..constants import IMAGENET_STATS
from ..registry import register_model

__all__ = [
    "GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux", "BasicConv2d", "googlenet",
    "GoogLeNet2015", "Inception2015", "InceptionAux2015", "googlenet_2015",
]

Stem = Literal["imagenet", "small"]


class GoogLeNetOutputs(NamedTuple):
    """What a training-mode GoogLeNet with auxiliary heads returns.

    A tuple whose first element is the main logits: the engine adds the other
    elements' losses with weight ``train.aux_weight`` (0.3 in the paper).
    """

    logits: Tensor
    aux_logits2: Tensor
    aux_logits1: Tensor


class BasicConv2d(nn.Module):
    """Convolution, batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        # eps=1e-3 as in the TensorFlow original, whose statistics the checkpoint holds.
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    """Four parallel branches concatenated on channels (paper, Figure 2b).

    1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> "5x5" | 3x3 max-pool -> 1x1 projection.
    The 1x1 reductions are what keep the network cheap: they shrink the channels
    before the expensive spatial convolutions. ``conv_block`` is every convolution
    with what follows it (:class:`BasicConv2d` here, :class:`ConvReLU` in the 2015
    network) and ``kernel_5x5`` the "5x5" branch's kernel: 3 in torchvision's layout
    (see the module docstring), 5 in the paper's.
    """

    def __init__(
        self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int,
        *, conv_block: Callable[..., nn.Module] = BasicConv2d, kernel_5x5: int = 3,
    ) -> None:
        super().__init__()
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1),
            conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=kernel_5x5, padding=kernel_5x5 // 2),
        )
        # At stride 1 ceil_mode changes nothing; torchvision sets it, so it stays.
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on an intermediate map: pool to 4x4, 1x1 conv, two FC layers.

    The paper adds two of them (after 4a and 4d) to push gradient into the middle of
    the network during training; they are ignored at inference.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        # The paper's 5x5/3 average pool maps 14x14 to 4x4; adaptive pooling gets 4x4
        # from any map size, including the 7x7 and 8x8 ones of the small stem.
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = self.conv(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x), inplace=True)
        x = self.dropout(x)
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """Stem, nine Inception modules in three pooled groups, global pool, dropout, fc.

    ``stem="imagenet"`` (default) is torchvision's network: a 7x7 stride-2
    convolution and two 3x3 stride-2 max-pools take 224x224 to 28x28 before
    inception 3a; groups 3, 4 and 5 then run at 28, 14 and 7 px.

    ``stem="small"`` is for 28-64 px images (MNIST, CIFAR): the first convolution
    becomes 3x3 stride 1 and the first max-pool is dropped, so only the second pool
    reduces before the Inception modules. A 32x32 image reaches groups 3, 4 and 5 at
    16, 8 and 4 px (28x28: 14, 7, 4), the same 1:2:4 ladder as at 224 px. Only
    ``conv1.conv.weight`` changes shape.

    ``transform_input`` re-normalizes inputs given with ImageNet mean/std to the
    (x - 0.5) / 0.5 scaling the original TensorFlow weights expect; torchvision turns
    it on only when it loads those weights, and so should a user who does.

    In training mode with ``aux_logits`` the forward returns
    :class:`GoogLeNetOutputs` ``(logits, aux_logits2, aux_logits1)``; otherwise the
    logits tensor alone.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem: Stem = "imagenet",
        aux_logits: bool = True,
        transform_input: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
    ) -> None:
        super().__init__()
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        if transform_input and in_chans != 3:
            raise ValueError("transform_input re-normalizes RGB ImageNet inputs; it needs in_chans=3")
        self.aux_logits = aux_logits
        self.transform_input = transform_input

        if stem == "imagenet":
            self.conv1 = BasicConv2d(in_chans, 64, kernel_size=7, stride=2, padding=3)
            # ceil_mode reproduces Caffe's rounding, under which 112 -> 56 -> 28 -> 14 -> 7.
            self.maxpool1: nn.Module = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        else:
            self.conv1 = BasicConv2d(in_chans, 64, kernel_size=3, stride=1, padding=1)
            self.maxpool1 = nn.Identity()
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # Channel counts from the paper's Table 1:
        # in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)

        self.aux1: InceptionAux | None = InceptionAux(512, num_classes, dropout_aux) if aux_logits else None
        self.aux2: InceptionAux | None = InceptionAux(528, num_classes, dropout_aux) if aux_logits else None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        self.num_classes, self.num_features = num_classes, 1024
        s = 2 if stem == "imagenet" else 1  # conv1's stride, and maxpool1's (Identity in the small stem)
        self.feature_info = [
            dict(num_chs=64, reduction=s, module="conv1"),
            dict(num_chs=192, reduction=s * s, module="conv3"),
            dict(num_chs=480, reduction=2 * s * s, module="inception3b"),
            dict(num_chs=832, reduction=4 * s * s, module="inception4e"),
            dict(num_chs=1024, reduction=8 * s * s, module="inception5b"),
        ]
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's scheme: truncated N(0, 0.01) for every conv and linear weight
        # (batch norm after each conv makes the scale of these forgiving).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _transform_input(self, x: Tensor) -> Tensor:
        # ImageNet-normalized channel c is (v - mean_c) / std_c; the original weights want (v - 0.5) / 0.5.
        x0 = x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x1 = x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x2 = x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat((x0, x1, x2), 1)

    def _trunk(self, x: Tensor, heads: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Inception 5b's map and, with ``heads``, the two auxiliary heads' logits."""
        if self.transform_input:
            x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))

        x = self.inception3b(self.inception3a(x))
        x = self.maxpool3(x)

        x = self.inception4a(x)
        aux1 = self.aux1(x) if heads and self.aux1 is not None else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if heads and self.aux2 is not None else None
        x = self.inception4e(x)
        x = self.maxpool4(x)
        return self.inception5b(self.inception5a(x)), aux1, aux2

    def forward_features(self, x: Tensor) -> Tensor:
        """Inception 5b's map, ``(B, 1024, 7, 7)`` at 224 px."""
        return self._trunk(x, heads=False)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, dropout, then ``fc`` unless ``pre_logits``."""
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        # Auxiliary heads only cost time in training, where their losses are used.
        heads = self.training and self.aux_logits and self.aux1 is not None and self.aux2 is not None
        x, aux1, aux2 = self._trunk(x, heads)
        x = self.forward_head(x)
        if heads:
            return GoogLeNetOutputs(x, aux2, aux1)  # type: ignore[arg-type]
        return x

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A new ``fc`` and auxiliary ``fc2`` layers for ``num_classes`` (0: none, the
        model returns the pooled features, and the auxiliary heads their 1024 features)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        for aux in (self.aux1, self.aux2):
            if aux is not None:
                aux.fc2 = nn.Linear(aux.fc1.out_features, num_classes) if num_classes else nn.Identity()


@register_model(
    family="googlenet",
    paper="Szegedy et al. 2015, Going deeper with convolutions",
    input_size=(3, 224, 224),
    first_conv="conv1.conv",
    classifier=("fc", "aux1.fc2", "aux2.fc2"),
    mean=IMAGENET_STATS[0],
    std=IMAGENET_STATS[1],
    interpolation="bilinear",
    crop_pct=0.875,
)
def googlenet(
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    stem: Stem = "imagenet",
    aux_logits: bool = True,
    transform_input: bool = False,
    dropout: float = 0.2,
    dropout_aux: float = 0.7,
) -> GoogLeNet:
    """GoogLeNet / Inception v1: 13,004,888 parameters with the two auxiliary heads
    (the default, as torchvision's), 6,624,904 with ``aux_logits=False``."""
    return GoogLeNet(
        num_classes=num_classes, in_chans=in_chans, stem=stem, aux_logits=aux_logits,
        transform_input=transform_input, dropout=dropout, dropout_aux=dropout_aux,
    )


# ---------------------------------------------------------------------------------
# GoogLeNet as published
# ---------------------------------------------------------------------------------


class ConvReLU(nn.Module):
    """Convolution with bias, then ReLU: the paper's layers, before batch norm existed."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv(x), inplace=True)


class Inception2015(Inception):
    """The Inception module with dimension reductions as published (paper, figure 2b):
    a true 5x5 branch, and a bias and a ReLU after every convolution, reductions included."""

    def __init__(
        self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int
    ) -> None:
        super().__init__(in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                         conv_block=ConvReLU, kernel_5x5=5)


class InceptionAux2015(nn.Module):
    """Auxiliary classifier of section 5: 5x5/3 average pool (14x14 -> 4x4), 1x1 conv of
    128 with ReLU, fc 1024 with ReLU, dropout 0.7, linear to the classes."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv = ConvReLU(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.dropout = nn.Dropout(p=dropout)
        self.fc2: nn.Module = nn.Linear(1024, num_classes) if num_classes else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))


def require_224(x: Tensor) -> Tensor:
    """The input as it is when 224x224, the size the 2015 network's final 7x7 pool assumes."""
    if tuple(x.shape[-2:]) != (224, 224):
        raise ValueError(f"GoogLeNet (2015) takes 224x224 inputs, got {x.shape[-2]}x{x.shape[-1]}")
    return x


# A leaf of torch.fx traces (torchvision's create_feature_extractor): it branches on the input's size.
torch.fx.wrap("require_224")


class GoogLeNet2015(nn.Module):
    """GoogLeNet as published: Szegedy et al. (2015), section 5, Table 1 and figure 3.

    On a 224x224 input::

        conv1 7x7/2 64 -> 112, max-pool 3x3/2 -> 56, LRN
        conv2 1x1 64, conv3 3x3 192, LRN, max-pool 3x3/2 -> 28
        inception 3a, 3b, max-pool 3x3/2 -> 14
        inception 4a (aux head 1), 4b, 4c, 4d (aux head 2), 4e, max-pool 3x3/2 -> 7
        inception 5a, 5b, average pool 7x7 -> 1x1x1024, dropout 0.4, linear

    Every convolution has a bias and a ReLU, and there is no batch normalization. The
    Inception modules (:class:`Inception2015`) have true 5x5 convolutions and Table 1's
    channel counts. The two auxiliary classifiers (:class:`InceptionAux2015`) run only
    in training: the forward then returns :class:`GoogLeNetOutputs` ``(logits,
    aux_logits2, aux_logits1)`` and the engine adds each auxiliary loss with weight
    ``train.aux_weight`` (0.3, section 5); in eval mode it returns the logits alone.

    Parameters with 1000 classes: 6,998,552 without the auxiliary heads, 13,378,280
    with them (the default, as they train). Table 1's params column adds up to about
    6.8M: its per-layer figures run a few per cent under exact counts of the same
    layers (inception 5b: 1,388K listed, 1,444,080 counted with biases).

    Departures, where the paper leaves a detail open:

    * Local response normalization constants: the paper gives none; these are the
      BVLC Caffe reference model's (n = 5, alpha = 1e-4 divided by n, beta = 0.75, k = 1),
      which is ``torch.nn.LocalResponseNorm``'s own convention.
    * Max-pools round up (Caffe's arithmetic), which gives Table 1's sizes 56, 28, 14, 7.
    * Initialization (not stated in the paper, trained with DistBelief): that of the
      Caffe reference, Xavier-uniform (+-sqrt(3 / fan-in)) weights and 0.2 biases on the
      convolutions, zero biases on the linear layers.
    * Input is 224x224 only: the 7x7 average pool and the auxiliary heads' fixed 4x4
      maps need it. Mean subtraction is the dataset's normalization.

    Interface: ``forward_features`` gives 5b's 1024x7x7 maps (in training, the auxiliary
    heads run only inside ``forward``); ``forward_head`` pools, drops out and classifies,
    with ``pre_logits=True`` stopping at the 1024 pooled features. ``get_classifier`` is
    the main linear layer; ``reset_classifier`` replaces it and the auxiliary heads'
    last layers, which predict the same classes.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        dropout: float = 0.4,
        dropout_aux: float = 0.7,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.aux_logits = aux_logits

        def pool() -> nn.MaxPool2d:
            return nn.MaxPool2d(3, stride=2, ceil_mode=True)

        def lrn() -> nn.LocalResponseNorm:
            return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=1.0)

        self.conv1 = ConvReLU(in_chans, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = pool()
        self.norm1 = lrn()
        self.conv2 = ConvReLU(64, 64, kernel_size=1)
        self.conv3 = ConvReLU(64, 192, kernel_size=3, padding=1)
        self.norm2 = lrn()
        self.maxpool2 = pool()

        # Table 1: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
        self.inception3a = Inception2015(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception2015(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = pool()
        self.inception4a = Inception2015(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception2015(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception2015(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception2015(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception2015(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = pool()
        self.inception5a = Inception2015(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception2015(832, 384, 192, 384, 48, 128, 128)

        self.aux1 = InceptionAux2015(512, num_classes, dropout_aux) if aux_logits else None
        self.aux2 = InceptionAux2015(528, num_classes, dropout_aux) if aux_logits else None

        self.avgpool = nn.AvgPool2d(7, stride=1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc: nn.Module = nn.Linear(1024, num_classes) if num_classes else nn.Identity()
        self.num_features = 1024
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="conv1"),
            dict(num_chs=192, reduction=4, module="conv3"),
            dict(num_chs=480, reduction=8, module="inception3b"),
            dict(num_chs=832, reduction=16, module="inception4e"),
            dict(num_chs=1024, reduction=32, module="inception5b"),
        ]
        self.apply(_init_2015)

    def _features(self, x: Tensor, heads: bool) -> tuple[Tensor, list[Tensor]]:
        x = self.norm1(self.maxpool1(self.conv1(require_224(x))))
        x = self.maxpool2(self.norm2(self.conv3(self.conv2(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux = [self.aux1(x)] if heads and self.aux1 is not None else []
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        if heads and self.aux2 is not None:
            aux.insert(0, self.aux2(x))
        x = self.maxpool4(self.inception4e(x))
        return self.inception5b(self.inception5a(x)), aux

    def forward_features(self, x: Tensor) -> Tensor:
        return self._features(x, heads=False)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        # The auxiliary heads only cost time in training, where their losses are used.
        x, aux = self._features(x, heads=self.training and self.aux_logits)
        x = self.forward_head(x)
        return GoogLeNetOutputs(x, *aux) if aux else x

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """New main and auxiliary output layers for ``num_classes`` (0: none; forward
        gives the pooled features)."""
        self.num_classes = num_classes

        def new(in_features: int) -> nn.Module:
            if not num_classes:
                return nn.Identity()
            layer = nn.Linear(in_features, num_classes).to(self.inception5b.branch1.conv.weight)
            _init_2015(layer)
            return layer

        self.fc = new(1024)
        for head in (self.aux1, self.aux2):
            if head is not None:
                head.fc2 = new(1024)


def _init_2015(m: nn.Module) -> None:
    # The Caffe reference's fillers: "xavier" is uniform in +-sqrt(3 / fan-in).
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_uniform_(m.weight, nonlinearity="linear")
        nn.init.constant_(m.bias, 0.2 if isinstance(m, nn.Conv2d) else 0.0)


@register_model(
    family="googlenet",
    paper="Szegedy et al. 2015, Going deeper with convolutions (section 5, Table 1)",
    input_size=(3, 224, 224),
    first_conv="conv1.conv",
    classifier=("fc", "aux1.fc2", "aux2.fc2"),
    mean=IMAGENET_STATS[0],
    std=IMAGENET_STATS[1],
    interpolation="bilinear",
    crop_pct=0.875,
    notes="GoogLeNet as published; googlenet is torchvision's reading. Here: no batch normalization "
          "(convolutions with biases, then ReLU); local response normalization after the first max-pool "
          "and after conv3 (figure 3); true 5x5 convolutions in the Inception modules (torchvision has "
          "3x3); 3x3/2 max-pool before 5a (torchvision 2x2/2); auxiliary heads with a 5x5/3 average pool; "
          "dropout 0.4 (torchvision 0.2); 224x224 input only. 6,998,552 parameters without the "
          "auxiliary heads (googlenet: 6,624,904).",
)
def googlenet_2015(
    *,
    num_classes: int = 1000,
    in_chans: int = 3,
    aux_logits: bool = True,
    dropout: float = 0.4,
    dropout_aux: float = 0.7,
) -> GoogLeNet2015:
    """GoogLeNet as published in 2015: 13,378,280 parameters with the auxiliary heads
    (the default), 6,998,552 without; see :class:`GoogLeNet2015`."""
    return GoogLeNet2015(
        num_classes=num_classes, in_chans=in_chans, aux_logits=aux_logits,
        dropout=dropout, dropout_aux=dropout_aux,
    )
