"""Image classification datasets."""

from __future__ import annotations

import numpy as np
import torch

from . import register_dataset
from .core import DataBundle, DataInfo, ImageTransform, TensorLoader, split_indices

__all__ = ["digits", "image_bundle"]


def image_bundle(
    cfg,
    *,
    name: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    classes: list[str],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    crop_padding: int = 0,
    flip: bool = False,
) -> DataBundle:
    """A :class:`DataBundle` over uint8 NCHW tensors held in memory.

    ``cfg.augment`` switches the training augmentation (random crop with
    ``crop_padding``, horizontal ``flip``) on or off; evaluation never augments.
    ``cfg.val_split`` carves a seeded validation set out of ``train``.
    """
    x_train, y_train = train
    val = None
    eval_tf = ImageTransform(mean, std)
    if cfg.val_split:
        keep, held = split_indices(len(y_train), cfg.val_split, cfg.split_seed)
        val = TensorLoader((x_train[held], y_train[held]), batch_size=cfg.eval_batch_size or cfg.batch_size, transform=eval_tf)
        x_train, y_train = x_train[keep], y_train[keep]
    augment = cfg.augment
    train_tf = ImageTransform(mean, std, crop_padding=crop_padding if augment else 0, flip=flip and augment)
    info = DataInfo(
        name=name,
        task="classification",
        input_size=tuple(x_train.shape[1:]),
        classes=classes,
        mean=tuple(mean),
        std=tuple(std),
        model_kwargs={"num_classes": len(classes), "in_chans": int(x_train.shape[1])},
    )
    return DataBundle(
        info=info,
        train=TensorLoader((x_train, y_train), batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed, transform=train_tf),
        test=TensorLoader(test, batch_size=cfg.eval_batch_size or cfg.batch_size, transform=eval_tf),
        val=val,
    )


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 NCHW images, on the 0..1 scale."""
    xf = x.double().div_(255)
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3))
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


@register_dataset("digits", input_size=(1, 32, 32))
def digits(cfg) -> DataBundle:
    """scikit-learn's bundled 1,797 handwritten 8x8 digits, upscaled to 32x32 (offline).

    The 0..16 grey levels are rescaled to 0..255 and the images resized bilinearly
    to 32x32, LeNet-5's input size. The split is stratified and fixed (seed 0):
    1,437 train, 360 test.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ds = load_digits()
    images = torch.from_numpy(ds.images.astype(np.float32) * (255.0 / 16.0)).unsqueeze(1)
    images = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    images = images.round().clamp_(0, 255).to(torch.uint8)
    labels = torch.from_numpy(ds.target.astype(np.int64))
    idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=360, stratify=ds.target, random_state=0)
    idx_train, idx_test = torch.from_numpy(np.sort(idx_train)), torch.from_numpy(np.sort(idx_test))
    mean, std = channel_stats(images[idx_train])
    return image_bundle(
        cfg,
        name="digits",
        train=(images[idx_train], labels[idx_train]),
        test=(images[idx_test], labels[idx_test]),
        classes=[str(i) for i in range(10)],
        mean=mean,
        std=std,
    )
