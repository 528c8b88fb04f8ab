"""Image classification datasets.

``digits`` (scikit-learn, offline), ``mnist``, ``fashion_mnist``, ``cifar10``,
``cifar100``; a user's own images (``imagefolder``, ``npz``) are in
:mod:`zoo.data.image_files`.

``data.root`` is the folder that holds each dataset's own folder, as in
torchvision: ``ROOT/MNIST/raw/*``, ``ROOT/FashionMNIST/raw/*``,
``ROOT/cifar-10-batches-py/*``, ``ROOT/cifar-100-python/*``. MNIST-style sets
load from the four IDX files, gzipped or not (parsed here, no unzip needed);
CIFAR-10 also from ``ROOT/CIFAR10/cifar10_{train,test}.npz``. Nothing touches
the network unless ``data.download=true``, which uses torchvision's own
download code.

Sets of this size are decoded once into uint8 tensors held in memory (on the
GPU after ``bundle.to("cuda")``) and cut into batches by indexing; crop, flip
and normalization run batched on tensors (:class:`~zoo.data.core.ImageTransform`).
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..constants import CIFAR10_STATS, CIFAR100_STATS, FASHION_MNIST_STATS, IMAGENET_STATS, MNIST_STATS
from ..errors import ConfigError, DataError, first_line
from .core import (
    DataBundle,
    DataInfo,
    ImageTransform,
    TensorLoader,
    missing_files,
    seed_of,
    split_indices,
)
from .registry import register_dataset

__all__ = [
    "digits",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "image_bundle",
    "read_idx",
    "load_mnist",
    "load_cifar",
    "channel_stats",
    "load_npz_arrays",
    "npz_images",
    "npz_labels",
    "check_crop_padding",
    "MNIST_STATS",
    "FASHION_MNIST_STATS",
    "CIFAR10_STATS",
    "CIFAR100_STATS",
    "IMAGENET_STATS",
]


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ---------------------------------------------------------------------------------
# The in-memory bundle
# ---------------------------------------------------------------------------------
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
    cutout: int = 0,
    extra: dict[str, Any] | None = None,
) -> DataBundle:
    """A :class:`DataBundle` over uint8 NCHW tensors held in memory.

    ``cfg.augment`` switches the training augmentation (random crop with
    ``crop_padding``, horizontal ``flip``, ``cutout``) on or off; evaluation never augments.
    ``cfg.val_split`` carves a seeded validation set out of ``train``.
    """
    x_train, y_train = train
    x_test, y_test = test
    if x_train.dtype != torch.uint8 or x_train.dim() != 4:
        raise ValueError(f"image_bundle takes uint8 NCHW images, got {x_train.dtype} {tuple(x_train.shape)}")
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    val = None
    eval_tf = ImageTransform(mean, std)
    if cfg.val_split:
        keep, held = split_indices(len(y_train), cfg.val_split, cfg.split_seed)
        val = TensorLoader((x_train[held], y_train[held]), batch_size=eval_bs, transform=eval_tf)
        x_train, y_train = x_train[keep], y_train[keep]
    augment = cfg.augment
    train_tf = ImageTransform(mean, std, crop_padding=crop_padding if augment else 0, flip=flip and augment,
                              cutout=cutout if augment else 0)
    info = DataInfo(
        name=name,
        task="classification",
        input_size=tuple(x_train.shape[1:]),
        classes=list(classes),
        mean=tuple(mean),
        std=tuple(std),
        model_kwargs={"num_classes": len(classes), "in_chans": int(x_train.shape[1])},
        extra=dict(extra or {}),
    )
    return DataBundle(
        info=info,
        train=TensorLoader((x_train, y_train), batch_size=cfg.batch_size, shuffle=True, seed=seed_of(cfg), transform=train_tf),
        test=TensorLoader((x_test, y_test), batch_size=eval_bs, transform=eval_tf),
        val=val,
    )


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 NCHW images, on the 0..1 scale."""
    n = x.shape[0]
    step = max(1, 2**24 // max(1, x[0].numel()))  # chunks, so big sets do not need a float copy
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    total_sq = torch.zeros(x.shape[1], dtype=torch.float64)
    for i in range(0, n, step):
        chunk = x[i : i + step].double()
        total += chunk.sum(dim=(0, 2, 3))
        total_sq += chunk.pow(2).sum(dim=(0, 2, 3))
    count = n * x.shape[2] * x.shape[3]
    mean = total / count
    var = (total_sq / count - mean.pow(2)) * count / max(count - 1, 1)
    mean, std = mean / 255, var.clamp(min=0).sqrt() / 255
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(max(v, 1e-4), 4) for v in std.tolist())


# ---------------------------------------------------------------------------------
# digits (scikit-learn, bundled)
# ---------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST)
# ---------------------------------------------------------------------------------
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (LeCun's MNIST format), gzipped (``.gz``) or not.

    Layout: two zero bytes, a type code (0x08 = uint8 ...), the number of
    dimensions, each dimension as a big-endian uint32, then the data, row-major
    and big-endian. A file that is not IDX, or shorter or longer than its header
    says, raises a one-line :class:`DataError` naming it.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"corrupt or truncated file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"corrupt file {path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"truncated file {path}: header cut short")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        what = "truncated" if len(raw) - header < expected else "corrupt"
        raise DataError(
            f"{what} file {path}: header says {'x'.join(map(str, shape))} values ({expected} bytes), "
            f"found {len(raw) - header} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape, dtype=np.int64)), offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _find_idx(folders: list[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _mnist_files(root: Path, folder: str) -> dict[str, Path] | None:
    folders = [root / folder / "raw", root / folder, root]
    found = {stem: _find_idx(folders, stem) for pair in _MNIST_FILES.values() for stem in pair}
    if any(p is None for p in found.values()):
        return None
    return found  # type: ignore[return-value]


def _download_torchvision(name: str, fetch: Any) -> None:
    try:
        fetch()
    except DataError:
        raise
    except Exception as exc:  # torchvision raises RuntimeError/URLError/... offline
        raise DataError(f"dataset {name!r}: download failed ({first_line(exc)}); without network, place the files under data.root yourself") from None


def load_mnist(cfg, name: str = "mnist") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images (N, 1, 28, 28) uint8, train labels, test images, test labels)
    of ``mnist`` or ``fashion_mnist`` from ``ROOT/<MNIST|FashionMNIST>/raw``.

    The four IDX files may be gzipped or not; they are also looked for in
    ``ROOT/<folder>`` and in ``ROOT`` itself. With ``cfg.download`` and files
    missing, torchvision's ``MNIST``/``FashionMNIST`` download them there first.
    """
    root = cfg.root_path
    folder = _MNIST_FOLDERS[name]
    files = _mnist_files(root, folder)
    if files is None and cfg.download:
        import torchvision.datasets as tvd

        cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST

        def fetch() -> None:
            cls(str(root), train=True, download=True)
            cls(str(root), train=False, download=True)

        _download_torchvision(name, fetch)
        files = _mnist_files(root, folder)
    if files is None:
        stems = [s + ".gz" for pair in _MNIST_FILES.values() for s in pair]
        raise missing_files(name, root / folder / "raw", stems,
                            how="the same names without .gz work too; set data.download=true to fetch them",
                            holds=folder)
    out = []
    for split in ("train", "test"):
        img_path, lbl_path = (files[s] for s in _MNIST_FILES[split])
        images, labels = read_idx(img_path), read_idx(lbl_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(f"corrupt file {img_path}: expected uint8 images N x H x W, got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"corrupt file {lbl_path}: {labels.shape} labels for {len(images)} images in {img_path.name}")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise DataError(f"corrupt file {lbl_path}: labels outside 0..9")
        out += [torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))]
    return out[0], out[1], out[2], out[3]


@register_dataset("mnist", input_size=(1, 28, 28))
def mnist(cfg, *, crop_padding: int = 0) -> DataBundle:
    """MNIST handwritten digits (LeCun et al. 1998): 60,000 train, 10,000 test, 28x28 grey.

    Normalized with the training set's mean 0.1307 and std 0.3081. No augmentation by
    default; ``crop_padding`` p > 0 shifts each training digit by up to p px in each
    direction (a random 28x28 crop of the image zero-padded by p; zero is MNIST's
    background), the small translations LeCun et al. 1998 distort with as well.
    """
    x_train, y_train, x_test, y_test = load_mnist(cfg, "mnist")
    mean, std = MNIST_STATS
    return image_bundle(cfg, name="mnist", train=(x_train, y_train), test=(x_test, y_test),
                        classes=[str(i) for i in range(10)], mean=mean, std=std,
                        crop_padding=check_crop_padding(crop_padding))


@register_dataset("fashion_mnist", input_size=(1, 28, 28))
def fashion_mnist(cfg) -> DataBundle:
    """Fashion-MNIST (Xiao et al. 2017): Zalando articles in MNIST's format, 10 classes.

    No augmentation; normalized with mean 0.2860 and std 0.3530.
    """
    x_train, y_train, x_test, y_test = load_mnist(cfg, "fashion_mnist")
    mean, std = FASHION_MNIST_STATS
    return image_bundle(cfg, name="fashion_mnist", train=(x_train, y_train), test=(x_test, y_test),
                        classes=list(FASHION_CLASSES), mean=mean, std=std)


# ---------------------------------------------------------------------------------
# CIFAR
# ---------------------------------------------------------------------------------
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a CIFAR batch is a
    pickle, and nothing in a data file gets to run code."""

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        if name == "scalar" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            from numpy._core.multiarray import scalar

            return scalar
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            import codecs

            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise DataError(f"corrupt or truncated file {path}: {exc}") from None
    if not isinstance(obj, dict):
        raise DataError(f"corrupt file {path}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    entry = _unpickle(path)
    if "data" not in entry or label_key not in entry:
        raise DataError(f"corrupt file {path}: no 'data'/'{label_key}' entries (keys: {', '.join(map(str, entry))})")
    data = np.asarray(entry["data"])
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"corrupt file {path}: expected N x 3072 uint8 data and N labels, got {data.dtype} {data.shape} "
                        f"and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


_CIFAR = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"),
        "npz_folder": "CIFAR10",
        "classes": 10,
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", "fine_label_names"),
        "npz_folder": "CIFAR100",
        "classes": 100,
    },
}


def load_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (no pickles); a corrupt file is one DataError line."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zlib.error, KeyError) as exc:
        raise DataError(f"corrupt or truncated file {path}: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise DataError(f"corrupt or truncated file {path}: {type(exc).__name__}: {exc}") from None


def npz_images(z: dict[str, np.ndarray], path: Path, layout: str = "auto") -> np.ndarray:
    """The ``images`` array of an ``.npz`` as uint8 (N, C, H, W); ``layout`` says
    where the channels are (``auto``: guessed from the shape)."""
    if "images" not in z:
        raise DataError(f"file {path} has no array 'images' (arrays: {', '.join(z) or 'none'})")
    x = z["images"]
    if x.dtype != np.uint8:
        raise DataError(f"file {path}: 'images' must be uint8 (0..255), got {x.dtype}")
    if x.ndim == 3:  # N, H, W grey
        return x[:, None]
    if x.ndim != 4:
        raise DataError(f"file {path}: 'images' must be N x H x W x C or N x C x H x W, got shape {x.shape}")
    if layout == "auto":
        first, last = x.shape[1], x.shape[-1]
        if last in (1, 3) and first not in (1, 3):
            layout = "nhwc"
        elif first in (1, 3) and last not in (1, 3):
            layout = "nchw"
        elif last == 4 and first not in (1, 3, 4):
            layout = "nhwc"
        elif first == 4 and last not in (1, 3, 4):
            layout = "nchw"
        else:
            raise DataError(f"file {path}: cannot tell NHWC from NCHW for shape {x.shape}; set data.layout")
    return x.transpose(0, 3, 1, 2) if layout == "nhwc" else x


def npz_labels(z: dict[str, np.ndarray], path: Path) -> np.ndarray:
    """The ``labels`` array of an ``.npz``: integers, one per image."""
    if "labels" not in z:
        raise DataError(f"file {path} has no array 'labels' (arrays: {', '.join(z) or 'none'})")
    y = z["labels"]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"file {path}: 'labels' must be a 1-d integer array, got {y.dtype} {y.shape}")
    if len(y) != len(z["images"]):
        raise DataError(f"file {path}: {len(y)} labels for {len(z['images'])} images")
    if y.size and y.min() < 0:
        raise DataError(f"file {path}: negative labels")
    return y.astype(np.int64)


def load_cifar(cfg, name: str = "cifar10", *, coarse: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str], str]:
    """(train images (N, 3, 32, 32) uint8, labels, test images, labels, classes, source).

    Looks for torchvision's python-pickle layout ``ROOT/cifar-10-batches-py``
    (``ROOT/cifar-100-python``), then for ``ROOT/CIFAR10/cifar10_{train,test}.npz``
    (``CIFAR100/cifar100_...``); with ``cfg.download`` and neither present,
    torchvision fetches the pickles. ``source`` names the form that was read.
    """
    spec = _CIFAR[name]
    root = cfg.root_path
    folder = root / spec["folder"]
    files = spec["train"] + spec["test"] + [spec["meta"][0]]
    npz_dir = root / spec["npz_folder"]
    npz_files = [npz_dir / f"{name}_train.npz", npz_dir / f"{name}_test.npz"]

    def have_pickles() -> bool:
        return all((folder / f).is_file() for f in files)

    if not have_pickles() and not all(p.is_file() for p in npz_files) and cfg.download:
        import torchvision.datasets as tvd

        cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
        _download_torchvision(name, lambda: cls(str(root), train=True, download=True))
    label_key = "labels" if name == "cifar10" else ("coarse_labels" if coarse else "fine_labels")
    if have_pickles():
        parts = {}
        for split in ("train", "test"):
            arrays = [_cifar_batch(folder / f, label_key) for f in spec[split]]
            parts[split] = (np.concatenate([a[0] for a in arrays]), np.concatenate([a[1] for a in arrays]))
        meta = _unpickle(folder / spec["meta"][0])
        key = "coarse_label_names" if coarse else spec["meta"][1]
        classes = [c.decode() if isinstance(c, bytes) else str(c) for c in meta.get(key, [])]
        source = str(folder)
    elif all(p.is_file() for p in npz_files):
        if coarse:
            raise ConfigError("data.coarse needs the python-pickle CIFAR-100 (cifar-100-python/), not the .npz form")
        parts, classes = {}, []
        for split, path in zip(("train", "test"), npz_files):
            z = load_npz_arrays(path)
            images, labels = npz_images(z, path), npz_labels(z, path)
            parts[split] = (images, labels)
            if "classes" in z and not classes:
                classes = [str(c) for c in z["classes"].tolist()]
        source = str(npz_dir)
    else:
        raise missing_files(name, folder, files, also=[npz_files[0], npz_files[1]])
    n_classes = (20 if coarse else 100) if name == "cifar100" else 10
    if len(classes) != n_classes:
        classes = list(CIFAR10_CLASSES) if name == "cifar10" else [str(i) for i in range(n_classes)]
    out = []
    for split in ("train", "test"):
        images, labels = parts[split]
        if images.shape[1:] != (3, 32, 32):
            raise DataError(f"dataset {name!r}: {split} images in {source} are {images.shape[1:]}, expected 3x32x32")
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise DataError(f"dataset {name!r}: {split} labels in {source} outside 0..{n_classes - 1}")
        out += [torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64))]
    return out[0], out[1], out[2], out[3], classes, source


@register_dataset("cifar10", input_size=(3, 32, 32))
def cifar10(cfg, *, crop_padding: int = 4, flip: bool = True, cutout: int = 0) -> DataBundle:
    """CIFAR-10 (Krizhevsky 2009): 50,000 train, 10,000 test, 32x32 colour, 10 classes.

    Training augmentation when ``data.augment`` (default): random 32x32 crops of the
    image zero-padded by ``crop_padding`` (4) px and horizontal flips, as in He et
    al. 2016; ``cutout`` L > 0 also blanks an L x L square of each image (DeVries &
    Taylor 2017 use 16 on CIFAR-10). Loads torchvision's ``cifar-10-batches-py`` or the
    ``CIFAR10/cifar10_{train,test}.npz`` arrays.
    """
    x_train, y_train, x_test, y_test, classes, source = load_cifar(cfg, "cifar10")
    mean, std = CIFAR10_STATS
    return image_bundle(cfg, name="cifar10", train=(x_train, y_train), test=(x_test, y_test), classes=classes,
                        mean=mean, std=std, crop_padding=check_crop_padding(crop_padding), flip=flip,
                        cutout=check_pixels("cutout", cutout), extra={"source": source})


@register_dataset("cifar100", input_size=(3, 32, 32))
def cifar100(cfg, *, crop_padding: int = 4, flip: bool = True, cutout: int = 0, coarse: bool = False) -> DataBundle:
    """CIFAR-100 (Krizhevsky 2009): 50,000 train, 10,000 test, 100 classes (``coarse``: 20 superclasses).

    Same augmentation as CIFAR-10 (4-px padded random crop, horizontal flip, optional
    ``cutout``; DeVries & Taylor 2017 use 8 on CIFAR-100).
    """
    x_train, y_train, x_test, y_test, classes, source = load_cifar(cfg, "cifar100", coarse=coarse)
    mean, std = CIFAR100_STATS
    return image_bundle(cfg, name="cifar100", train=(x_train, y_train), test=(x_test, y_test), classes=classes,
                        mean=mean, std=std, crop_padding=check_crop_padding(crop_padding), flip=flip,
                        cutout=check_pixels("cutout", cutout), extra={"source": source})


def check_pixels(key: str, p: Any) -> int:
    """``p`` as a size in pixels (an int >= 0), else a ConfigError naming ``data.<key>``."""
    if isinstance(p, bool) or not isinstance(p, int) or p < 0:
        raise ConfigError(f"data.{key} must be an int >= 0, got {p!r}")
    return p


def check_crop_padding(p: Any) -> int:
    return check_pixels("crop_padding", p)
