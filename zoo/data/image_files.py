"""A user's own images as datasets: ``imagefolder`` (a class-per-folder tree of image
files, decoded by workers as they are read) and ``npz`` (arrays ``images`` /
``labels`` / optional ``classes`` a user exported), with the same transform,
normalization and validation split as the built-in sets (:mod:`zoo.data.vision`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .core import DataBundle, DataInfo, DatasetLoader, ImageTransform, TensorLoader, resolve_path, seed_of, split_indices
from .registry import register_dataset
from .vision import (
    IMAGENET_STATS,
    channel_stats,
    check_crop_padding,
    image_bundle,
    load_npz_arrays,
    npz_images,
    npz_labels,
)

__all__ = ["npz", "imagefolder", "FolderImages"]


# ---------------------------------------------------------------------------------
# npz: arrays a user exported
# ---------------------------------------------------------------------------------
def _stats_option(value: Any, key: str, channels: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, (int, float)) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"data.{key} must be a number or a list of numbers, got {value!r}")
    values = [float(v) for v in values]
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise ConfigError(f"data.{key} has {len(values)} values for {channels} channels")
    if key == "std" and any(v <= 0 for v in values):
        raise ConfigError(f"data.std must be positive, got {value!r}")
    return tuple(values)


@register_dataset("npz", task="classification")
def npz(
    cfg,
    *,
    path: str | None = None,
    test_path: str | None = None,
    test_split: float = 0.2,
    layout: str = "auto",
    mean: Any = None,
    std: Any = None,
    crop_padding: int = 0,
    flip: bool = False,
) -> DataBundle:
    """Images from NumPy ``.npz`` files: ``images`` uint8 (NHWC, NCHW or NHW), ``labels``, optional ``classes``.

    ``path`` is the training file (or a folder holding ``*train*.npz`` and
    ``*test*.npz``), relative to the working directory or to ``data.root``;
    ``test_path`` the test file. Without one, a seeded ``test_split`` of the
    training file is held out. ``mean``/``std`` default to the training set's own
    statistics. ``crop_padding``/``flip`` augment training when ``data.augment``.
    """
    if path is None:
        raise ConfigError("dataset 'npz' needs data.path=FILE.npz (the training arrays) and optionally data.test_path")
    if layout not in ("auto", "nhwc", "nchw"):
        raise ConfigError(f"data.layout must be 'auto', 'nhwc' or 'nchw', got {layout!r}")
    if not 0 < float(test_split) < 1:
        raise ConfigError(f"data.test_split must be > 0 and < 1, got {test_split!r}")
    root = cfg.root_path
    train_file = resolve_path(path, root)
    test_file = resolve_path(test_path, root) if test_path else None
    if train_file.is_dir():
        folder = train_file
        trains, tests = sorted(folder.glob("*train*.npz")), sorted(folder.glob("*test*.npz"))
        if len(trains) != 1:
            raise DataError(f"dataset 'npz': expected one *train*.npz in {folder}, found {len(trains) or 'none'}")
        train_file = trains[0]
        if test_file is None and len(tests) == 1:
            test_file = tests[0]
    for f in (train_file, test_file):
        if f is not None and not f.is_file():
            raise DataError(f"dataset 'npz': file not found: {f} (data.path/data.test_path are relative to the "
                            f"working directory or to data.root={root})")
    z = load_npz_arrays(train_file)
    images, labels = npz_images(z, train_file, layout), npz_labels(z, train_file)
    classes = [str(c) for c in z["classes"].tolist()] if "classes" in z else None
    if test_file is not None:
        zt = load_npz_arrays(test_file)
        x_test, y_test = npz_images(zt, test_file, layout), npz_labels(zt, test_file)
        if x_test.shape[1:] != images.shape[1:]:
            raise DataError(f"dataset 'npz': test images {x_test.shape[1:]} differ from train images {images.shape[1:]}")
        x_train, y_train = images, labels
    else:
        keep, held = split_indices(len(labels), float(test_split), cfg.split_seed)
        x_train, y_train = images[keep.numpy()], labels[keep.numpy()]
        x_test, y_test = images[held.numpy()], labels[held.numpy()]
    n_classes = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    if classes is None:
        classes = [str(i) for i in range(n_classes)]
    elif len(classes) < n_classes:
        raise DataError(f"dataset 'npz': {len(classes)} classes in {train_file} but labels go up to {n_classes - 1}")
    x_train_t = torch.from_numpy(np.ascontiguousarray(x_train))
    channels = x_train_t.shape[1]
    auto_mean, auto_std = channel_stats(x_train_t)
    mean_t = _stats_option(mean, "mean", channels) or auto_mean
    std_t = _stats_option(std, "std", channels) or auto_std
    return image_bundle(
        cfg,
        name="npz",
        train=(x_train_t, torch.from_numpy(y_train)),
        test=(torch.from_numpy(np.ascontiguousarray(x_test)), torch.from_numpy(y_test)),
        classes=classes,
        mean=mean_t,
        std=std_t,
        crop_padding=check_crop_padding(crop_padding),
        flip=flip,
        extra={"source": str(train_file)},
    )


# ---------------------------------------------------------------------------------
# imagefolder: ROOT/PATH/<class>/<image>
# ---------------------------------------------------------------------------------
class FolderImages(torch.utils.data.Dataset):
    """Images of a class-per-folder tree as uint8 CHW tensors of one fixed size.

    Each image is converted to RGB (or L for ``channels=1``), its shorter side
    resized to ``size`` (bilinear, antialiased) and centre-cropped to
    ``size x size``: deterministic work that DataLoader workers can do; the random
    augmentation is applied batched afterwards.
    """

    def __init__(self, samples: list[tuple[str, int]], size: int, channels: int = 3) -> None:
        self.samples = samples
        self.size = size
        self.mode = "RGB" if channels == 3 else "L"

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image, UnidentifiedImageError
        from torchvision.transforms import functional as TF

        path, label = self.samples[i]
        try:
            with Image.open(path) as img:
                img = img.convert(self.mode)
                img = TF.center_crop(TF.resize(img, self.size, antialias=True), [self.size, self.size])
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"corrupt or unreadable image {path}: {exc}") from None
        return TF.pil_to_tensor(img), label


class _OneLineErrors(DatasetLoader):
    """A DataLoader worker re-raises errors with the worker's traceback in the
    message; keep a DataError to its one line."""

    def __iter__(self):
        try:
            yield from super().__iter__()
        except DataError as exc:
            lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
            last = lines[-1] if lines else str(exc)
            raise DataError(last.split("DataError: ", 1)[-1]) from None


def _folder_samples(folder: Path, classes: list[str] | None) -> tuple[list[tuple[str, int]], list[str]]:
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    if classes is None:
        try:
            classes, _ = find_classes(str(folder))
        except FileNotFoundError:
            raise DataError(f"dataset 'imagefolder': no class folders in {folder} (expected {folder}/<class>/<image>)") from None
    mapping = {c: i for i, c in enumerate(classes)}
    samples = make_dataset(str(folder), mapping, extensions=IMG_EXTENSIONS, allow_empty=True)
    if not samples:
        raise DataError(f"dataset 'imagefolder': no images ({', '.join(IMG_EXTENSIONS)}) under {folder}")
    return samples, classes


@register_dataset("imagefolder", task="classification")
def imagefolder(
    cfg,
    *,
    path: str | None = None,
    image_size: int | None = None,
    channels: int = 3,
    test_split: float = 0.2,
    in_memory: bool = False,
    crop_padding: int = 0,
    flip: bool = True,
    mean: Any = None,
    std: Any = None,
) -> DataBundle:
    """A class-per-folder tree of a user's images: ``PATH/<class>/<image>``.

    ``path`` is relative to the working directory or to ``data.root``. When it
    holds ``train/`` and ``val/`` (or ``test/``) subfolders those are the splits;
    otherwise a seeded ``test_split`` of the one tree is held out. Every image is
    resized (shorter side) and centre-cropped to ``image_size`` (default: the
    shorter side of the first image). Images are read by a DataLoader with
    ``data.num_workers`` workers, or decoded once into memory with ``in_memory``.
    Training augmentation when ``data.augment``: horizontal ``flip`` and a
    ``crop_padding``-px padded random crop. Normalization: ``mean``/``std``,
    default ImageNet's.
    """
    if path is None:
        raise ConfigError("dataset 'imagefolder' needs data.path=FOLDER holding <class>/<image> (or train/ and val/)")
    if channels not in (1, 3):
        raise ConfigError(f"data.channels must be 1 or 3, got {channels!r}")
    if not 0 < float(test_split) < 1:
        raise ConfigError(f"data.test_split must be > 0 and < 1, got {test_split!r}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ConfigError(f"data.image_size must be a positive int, got {image_size!r}")
    root = cfg.root_path
    base = resolve_path(path, root)
    if not base.is_dir():
        raise DataError(f"dataset 'imagefolder': folder not found: {base} (expected {base}/<class>/<image>; "
                        f"data.path is relative to the working directory or to data.root={root})")
    train_dir = base / "train"
    test_dir = next((base / d for d in ("val", "test") if (base / d).is_dir()), None)
    if train_dir.is_dir() and test_dir is not None:
        train_samples, classes = _folder_samples(train_dir, None)
        test_samples, _ = _folder_samples(test_dir, classes)
    else:
        samples, classes = _folder_samples(base, None)
        keep, held = split_indices(len(samples), float(test_split), cfg.split_seed)
        train_samples = [samples[i] for i in keep.tolist()]
        test_samples = [samples[i] for i in held.tolist()]
    if image_size is None:
        from PIL import Image

        try:
            with Image.open(train_samples[0][0]) as img:
                image_size = min(img.size)
        except OSError as exc:
            raise DataError(f"corrupt or unreadable image {train_samples[0][0]}: {exc}") from None
    val_samples = None
    if cfg.val_split:
        keep, held = split_indices(len(train_samples), cfg.val_split, cfg.split_seed)
        val_samples = [train_samples[i] for i in held.tolist()]
        train_samples = [train_samples[i] for i in keep.tolist()]
    mean_t = _stats_option(mean, "mean", channels) or (IMAGENET_STATS[0] if channels == 3 else (0.449,))
    std_t = _stats_option(std, "std", channels) or (IMAGENET_STATS[1] if channels == 3 else (0.226,))
    augment = cfg.augment
    train_tf = ImageTransform(mean_t, std_t, crop_padding=check_crop_padding(crop_padding) if augment else 0, flip=flip and augment)
    eval_tf = ImageTransform(mean_t, std_t)
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    seed = seed_of(cfg)

    def make(samples: list[tuple[str, int]], train: bool) -> Any:
        ds = FolderImages(samples, image_size, channels)
        tf, bs = (train_tf, cfg.batch_size) if train else (eval_tf, eval_bs)
        if in_memory:
            images = torch.stack([ds[i][0] for i in range(len(ds))])
            labels = torch.tensor([s[1] for s in samples], dtype=torch.long)
            return TensorLoader((images, labels), batch_size=bs, shuffle=train, seed=seed, transform=tf)
        return _OneLineErrors(ds, batch_size=bs, shuffle=train, seed=seed, transform=tf, num_workers=cfg.num_workers)

    info = DataInfo(
        name="imagefolder",
        task="classification",
        input_size=(channels, image_size, image_size),
        classes=classes,
        mean=tuple(mean_t),
        std=tuple(std_t),
        model_kwargs={"num_classes": len(classes), "in_chans": channels},
        extra={"source": str(base)},
    )
    return DataBundle(
        info=info,
        train=make(train_samples, True),
        test=make(test_samples, False),
        val=make(val_samples, False) if val_samples else None,
    )
