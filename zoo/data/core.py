"""What every dataset hands the engine: a :class:`DataBundle` of loaders and a
:class:`DataInfo` that tells the model builder what it needs.

Loaders are iterables of batches. A batch is a tuple whose last element is the
target and whose other elements are the model's inputs: ``(images, labels)``,
``(tokens, lengths, labels)``, ``(frames_in, frames_out)``. The engine calls
``model(*batch[:-1])``.

:class:`TensorLoader` is the fast path for datasets that fit in memory (MNIST,
CIFAR, digits, text sets): the whole split lives in one tensor (uint8 images
stay uint8), on the training device when there is one, and batches are cut by
indexing, with augmentation and normalization done batched on that device.
All randomness of an epoch (order, crops, flips) is drawn from a generator
seeded by ``(seed, epoch)``, so an epoch is reproducible on its own: a resumed
run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "DataInfo",
    "DataBundle",
    "TensorLoader",
    "ImageTransform",
    "split_indices",
    "default_root",
    "epoch_generator",
]


def default_root() -> Path:
    """``$ZOO_DATA`` or ``~/.cache/zoo/data``: the folder that holds each dataset's folder."""
    return Path(os.environ.get("ZOO_DATA") or Path.home() / ".cache" / "zoo" / "data").expanduser()


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # Two large odd multipliers keep (seed, epoch) pairs from colliding.
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch * 7919 + 12345) % (2**63 - 1))


def split_indices(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A fixed seeded split of ``range(n)`` into (keep, held_out) with ``fraction`` held out."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = int(round(n * fraction))
    return perm[k:].sort().values, perm[:k].sort().values


@dataclass
class DataInfo:
    """What a dataset tells the rest of the zoo.

    ``model_kwargs`` are the builder arguments the data decides (``num_classes``,
    ``in_chans``, ``vocab_size``, ``input_size`` of a sequence model, ...); the
    engine passes each one the chosen model accepts, unless the config sets it.
    """

    name: str
    task: str  # classification | regression | lm | frames
    input_size: tuple[int, ...] | None = None  # (C, H, W) of images, (T, F) of sequences
    classes: list[str] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    vocab: Any = None  # zoo.data.text.Vocab for token data
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int | None:
        return self.model_kwargs.get("num_classes", len(self.classes) if self.classes else None)

    @property
    def small_images(self) -> bool:
        """Images of at most 64 px: CNNs built for 224 px take their small-input stem."""
        size = self.input_size
        return self.task == "classification" and size is not None and len(size) == 3 and max(size[1:]) <= 64

    def metadata(self) -> dict[str, Any]:
        """JSON-friendly description stored in checkpoints."""
        meta: dict[str, Any] = {"dataset": self.name, "task": self.task}
        if self.input_size is not None:
            meta["input_size"] = list(self.input_size)
        if self.classes is not None:
            meta["classes"] = list(self.classes)
        if self.mean is not None:
            meta["mean"], meta["std"] = list(self.mean), list(self.std or ())
        if self.vocab is not None:
            meta["vocab"] = self.vocab.to_dict()
        return meta


@dataclass
class DataBundle:
    info: DataInfo
    train: Any
    test: Any
    val: Any = None

    def to(self, device: Any) -> "DataBundle":
        moved = [getattr(x, "to")(device) if hasattr(x, "to") else x for x in (self.train, self.test, self.val)]
        return replace(self, train=moved[0], test=moved[1], val=moved[2])

    @property
    def eval_split(self) -> Any:
        """The split evaluated every epoch: validation when carved out, else test."""
        return self.val if self.val is not None else self.test


class ImageTransform:
    """Batched tensor augmentation and normalization for uint8 NCHW images.

    ``crop_padding`` pads with zeros and takes a random crop of the original size
    (the 4-px CIFAR recipe of He et al.); ``flip`` mirrors half the images.
    Randomness is drawn per sample once per epoch by :meth:`draw`.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        crop_padding: int = 0,
        flip: bool = False,
        pad_to: int | None = None,
    ) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.crop_padding = crop_padding
        self.flip = flip
        self.pad_to = pad_to
        # x/255 then (x - mean)/std as one multiply-add.
        self._scale = 1.0 / (255.0 * self.std)
        self._shift = -self.mean / self.std

    @property
    def random(self) -> bool:
        return self.crop_padding > 0 or self.flip

    def without_augmentation(self) -> "ImageTransform":
        return ImageTransform(self.mean.flatten().tolist(), self.std.flatten().tolist(), pad_to=self.pad_to)

    def draw(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        params: dict[str, Tensor] = {}
        if self.crop_padding:
            params["offset"] = torch.randint(0, 2 * self.crop_padding + 1, (n, 2), generator=generator)
        if self.flip:
            params["flip"] = torch.rand(n, generator=generator) < 0.5
        return params

    def __call__(self, x: Tensor, params: dict[str, Tensor] | None = None) -> Tensor:
        scale, shift = self._scale.to(x.device), self._shift.to(x.device)
        if params and "offset" in params:
            x = _random_crop(x, params["offset"].to(x.device), self.crop_padding)
        if params and "flip" in params:
            flip = params["flip"].to(x.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        x = torch.addcmul(shift, x.float(), scale) if x.dtype == torch.uint8 else (x - self.mean.to(x.device)) / self.std.to(x.device)
        if self.pad_to is not None and x.shape[-1] < self.pad_to:
            # Pad after normalizing so the border is the mean image value zero, as a
            # network trained on centred inputs expects.
            p = (self.pad_to - x.shape[-1]) // 2
            q = self.pad_to - x.shape[-1] - p
            x = torch.nn.functional.pad(x, (p, q, p, q))
        return x

    def to(self, device: Any) -> "ImageTransform":
        return self


def _random_crop(x: Tensor, offset: Tensor, padding: int) -> Tensor:
    """Per-sample crops of a zero-padded batch, gathered in one indexing op."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = (offset[:, 0:1] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (offset[:, 1:2] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    chans = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    return padded[batch, chans, rows, cols]


class TensorLoader:
    """Batches cut from in-memory tensors.

    Args:
        tensors: equal-length tensors; the last is the target.
        batch_size: samples per batch (the global batch under DDP, see :meth:`shard`).
        shuffle: new order every epoch (seeded by ``seed`` and the epoch).
        transform: called on the first tensor of each batch with that batch's share
            of the epoch's random draws (``ImageTransform``), or a plain callable
            ``fn(batch_tuple) -> batch_tuple`` when ``transform_batch`` is set.
        transform_batch: a callable that receives and returns the whole batch tuple
            (e.g. trimming padded token batches to their longest sequence).
        drop_last: drop a last incomplete batch.
    """

    def __init__(
        self,
        tensors: Sequence[Tensor],
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        transform: ImageTransform | None = None,
        transform_batch: Callable[[tuple[Tensor, ...]], tuple[Tensor, ...]] | None = None,
        drop_last: bool = False,
        order: Callable[[torch.Generator], Tensor] | None = None,
    ) -> None:
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"tensors differ in length: {sorted(lengths)}")
        self.tensors = tuple(tensors)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.transform_batch = transform_batch
        self.drop_last = drop_last
        self.order = order
        self.epoch = 0
        self.rank, self.world = 0, 1
        self._skip = 0

    # -- configuration -----------------------------------------------------------
    @property
    def num_samples(self) -> int:
        return len(self.tensors[0])

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def to(self, device: Any) -> "TensorLoader":
        device = torch.device(device)
        if self.device == device:
            return self
        clone = self._clone()
        clone.tensors = tuple(t.to(device) for t in self.tensors)
        return clone

    def _clone(self) -> "TensorLoader":
        clone = object.__new__(TensorLoader)
        clone.__dict__.update(self.__dict__)
        return clone

    def shard(self, rank: int, world: int) -> "TensorLoader":
        """Each rank takes its slice of every global batch, so the gradient averaged
        across ranks is that of the single-process batch."""
        clone = self._clone()
        clone.rank, clone.world = rank, world
        return clone

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip(self, batches: int) -> None:
        """Start the next iteration ``batches`` batches into the epoch (mid-epoch resume)."""
        self._skip = batches

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    # -- iteration ---------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = self.num_samples
        gen = epoch_generator(self.seed, self.epoch)
        if self.order is not None:
            perm = self.order(gen)
        elif self.shuffle:
            perm = torch.randperm(n, generator=gen)
        else:
            perm = None
        params = self.transform.draw(n, gen) if self.transform is not None and self.shuffle else None
        if perm is not None:
            perm = perm.to(self.device)
        start_batch, self._skip = self._skip, 0
        for b in range(start_batch, len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, n)
            if self.world > 1:
                share = math.ceil((hi - lo) / self.world)
                lo, hi = lo + self.rank * share, min(lo + (self.rank + 1) * share, hi)
            idx = perm[lo:hi] if perm is not None else None
            batch = tuple(t[idx] if idx is not None else t[lo:hi] for t in self.tensors)
            if self.transform is not None:
                bparams = None
                if params:
                    cpu_idx = idx.cpu() if idx is not None else torch.arange(lo, hi)
                    bparams = {k: v[cpu_idx] for k, v in params.items()}
                batch = (self.transform(batch[0], bparams), *batch[1:])
            if self.transform_batch is not None:
                batch = self.transform_batch(batch)
            yield batch
