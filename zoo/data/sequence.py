"""Sequence tasks for recurrent networks, generated deterministically from a seed.

* ``adding``: the adding problem (Hochreiter & Schmidhuber 1997; the form of
  Le et al. 2015 by default). Batches ``(x (B, T, 2) float, y (B,) float)``;
  task ``regression`` (MSE).
* ``copy``: the copy-memory task (Hochreiter & Schmidhuber 1997; the form of
  Arjovsky et al. 2016). Batches ``(x (B, T+2L) long, y (B, T+2L) long)``: a
  per-step classification over 10 symbols, scored like a language model (task
  ``lm``: mean cross-entropy over all steps).
* ``seq_mnist``: MNIST read as a sequence of 28 rows (28 features) or of 784
  pixels (1 feature), optionally in a fixed random order (permuted MNIST, Le et
  al. 2015). Batches ``(x (B, T, F) float, y (B,))``.
* ``moving_mnist``: two MNIST digits bouncing in a 64x64 frame (Srivastava et
  al. 2015), 10 frames in, 10 frames to predict. Batches ``(frames_in (B, 10, 1,
  64, 64), frames_out (B, 10, 1, 64, 64))`` float in [0, 1]; task ``frames``.
  Train sequences use MNIST train digits, test sequences MNIST test digits.

The synthetic sets depend only on ``seed`` (their own option, not the training
seed): the same options always give the same data.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError
from .core import BatchLoader, DataBundle, DataInfo, Normalize, TensorLoader, epoch_generator, seed_of, split_indices
from .registry import register_dataset
from .vision import MNIST_STATS, load_mnist

__all__ = ["adding", "copy", "seq_mnist", "moving_mnist", "MovingMNISTLoader", "adding_problem", "copy_task", "render_moving_digits"]


def _int_option(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"data.{key} must be an int >= {minimum}, got {value!r}")
    return value


def _split_gens(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """Independent generators of the train and test sets of one seed."""
    return torch.Generator().manual_seed(2 * seed + 1), torch.Generator().manual_seed(2 * seed + 2)


# ---------------------------------------------------------------------------------
# Adding problem
# ---------------------------------------------------------------------------------
def adding_problem(n: int, T: int, generator: torch.Generator, variant: str = "le") -> tuple[Tensor, Tensor, Tensor]:
    """``n`` sequences of length ``T``: (values (n, T), marker positions (n, 2), targets (n,)).

    ``le`` (Le, Jaitly & Hinton 2015; Arjovsky et al. 2016): values uniform in
    [0, 1], one marker in the first half, one in the second; the target is the
    sum of the two marked values (predicting 1 gives MSE 1/6 ~ 0.167).
    ``hochreiter`` (1997, section 5.4, with fixed length T): values uniform in
    [-1, 1]; X1 marked among the first 10 steps, X2 among the first T/2 - 1
    steps (distinct); the other markers are 0 except -1 at the first and last
    step (unless marked); X1 counts as 0 when it is the first step; target
    0.5 + (X1 + X2) / 4.
    """
    if variant == "le":
        values = torch.rand(n, T, generator=generator)
        half = T // 2
        first = torch.randint(0, half, (n,), generator=generator)
        second = torch.randint(half, T, (n,), generator=generator)
        pos = torch.stack([first, second], dim=1)
        target = values.gather(1, pos).sum(dim=1)
        return values, pos, target
    if variant == "hochreiter":
        values = torch.rand(n, T, generator=generator) * 2 - 1
        first = torch.randint(0, min(10, T), (n,), generator=generator)
        span = max(T // 2 - 1, 2)
        # Second marker uniform among the first span steps other than `first`.
        second = torch.randint(0, span - 1, (n,), generator=generator)
        second = second + (second >= first).long()
        pos = torch.stack([first, second], dim=1)
        marked = values.gather(1, pos)
        x1 = torch.where(first == 0, torch.zeros_like(marked[:, 0]), marked[:, 0])
        target = 0.5 + (x1 + marked[:, 1]) / 4.0
        return values, pos, target
    raise ConfigError(f"data.variant must be 'le' or 'hochreiter', got {variant!r}")


class _AddingInputs:
    """(values, positions, target) -> (x (B, T, 2), target): the marker channel is
    built per batch, so only the values are held in memory."""

    def __init__(self, variant: str) -> None:
        self.variant = variant

    def __call__(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        values, pos, target = batch
        markers = torch.zeros_like(values)
        if self.variant == "hochreiter":
            markers[:, 0] = -1.0
            markers[:, -1] = -1.0
        markers.scatter_(1, pos, 1.0)
        return torch.stack([values, markers], dim=2), target

    def to(self, device: Any) -> "_AddingInputs":
        return self


@register_dataset("adding", task="regression", input_size=(100, 2))
def adding(cfg, *, T: int = 100, train_size: int = 100_000, test_size: int = 10_000, variant: str = "le", seed: int = 0) -> DataBundle:
    """The adding problem: sum the two marked values of a length-``T`` sequence.

    Each step is (value, marker). ``variant: le`` (default; Le et al. 2015, the
    usual benchmark at T = 100...750) or ``hochreiter`` (the 1997 original). A
    fixed training set of ``train_size`` and test set of ``test_size`` sequences
    generated from ``seed``. Regression: the engine reports MSE; predicting the
    mean scores 0.167 (``le``).
    """
    T = _int_option(T, "T", 2 if variant == "le" else 6)
    train_size, test_size = _int_option(train_size, "train_size"), _int_option(test_size, "test_size")
    g_train, g_test = _split_gens(_int_option(seed, "seed", 0))
    train = adding_problem(train_size, T, g_train, variant)
    test = adding_problem(test_size, T, g_test, variant)
    return _synthetic_bundle(
        cfg,
        train,
        test,
        transform=_AddingInputs(variant),
        info=DataInfo(
            name="adding",
            task="regression",
            input_size=(T, 2),
            model_kwargs={"input_size": 2, "task": "regression"},
            extra={"T": T, "variant": variant, "baseline_mse": float(test[2].var(unbiased=False))},
        ),
    )


# ---------------------------------------------------------------------------------
# Copy-memory task
# ---------------------------------------------------------------------------------
def copy_task(n: int, T: int, generator: torch.Generator, length: int = 10, symbols: int = 8) -> tuple[Tensor, Tensor]:
    """``n`` copy sequences with delay ``T`` (Arjovsky, Shah & Bengio 2016).

    Alphabet: 0 blank, 1..``symbols`` data, ``symbols + 1`` the delimiter. Input:
    ``length`` random data symbols, ``T - 1`` blanks, the delimiter, ``length``
    blanks (``T + 2 length`` steps). Target: ``T + length`` blanks, then the data
    symbols. A network without memory scores ``length ln(symbols) / (T + 2 length)``.
    """
    data = torch.randint(1, symbols + 1, (n, length), generator=generator, dtype=torch.uint8)
    steps = T + 2 * length
    x = torch.zeros(n, steps, dtype=torch.uint8)
    y = torch.zeros(n, steps, dtype=torch.uint8)
    x[:, :length] = data
    x[:, length + T - 1] = symbols + 1
    y[:, -length:] = data
    return x, y


class _CopyInputs:
    """uint8 storage -> long batches."""

    def __call__(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        x, y = batch
        return x.long(), y.long()

    def to(self, device: Any) -> "_CopyInputs":
        return self


@register_dataset("copy", task="lm", input_size=(120,))
def copy(cfg, *, T: int = 100, length: int = 10, symbols: int = 8, train_size: int = 50_000, test_size: int = 5_000,
         seed: int = 0) -> DataBundle:
    """The copy-memory task: reproduce ``length`` symbols after a delay of ``T`` steps.

    Token inputs over ``symbols + 2`` values (blank, data, delimiter) and one
    target symbol per step: the model is a per-step classifier over the same
    alphabet (``rnn``/``gru``/``lstm`` with ``task: lm`` and ``vocab_size``), scored
    by the mean cross-entropy over all steps (task ``lm``). ``extra.baseline_loss``
    is the memoryless score ``length ln(symbols) / (T + 2 length)``.
    """
    T = _int_option(T, "T")
    length, symbols = _int_option(length, "length"), _int_option(symbols, "symbols", 2)
    if symbols + 2 > 255:
        raise ConfigError(f"data.symbols must be <= 253, got {symbols}")
    train_size, test_size = _int_option(train_size, "train_size"), _int_option(test_size, "test_size")
    g_train, g_test = _split_gens(_int_option(seed, "seed", 0))
    train = copy_task(train_size, T, g_train, length, symbols)
    test = copy_task(test_size, T, g_test, length, symbols)
    vocab = symbols + 2
    return _synthetic_bundle(
        cfg,
        train,
        test,
        transform=_CopyInputs(),
        info=DataInfo(
            name="copy",
            task="lm",
            input_size=(T + 2 * length,),
            classes=[str(i) for i in range(vocab)],
            model_kwargs={"vocab_size": vocab, "num_classes": vocab, "task": "lm"},
            extra={"T": T, "length": length, "symbols": symbols, "chars": False,
                   "baseline_loss": length * math.log(symbols) / (T + 2 * length)},
        ),
    )


def _synthetic_bundle(cfg, train: tuple[Tensor, ...], test: tuple[Tensor, ...], *, transform: Any, info: DataInfo) -> DataBundle:
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    val = None
    if cfg.val_split:
        keep, held = split_indices(len(train[0]), cfg.val_split, cfg.split_seed)
        val = TensorLoader(tuple(t[held] for t in train), batch_size=eval_bs, transform_batch=transform)
        train = tuple(t[keep] for t in train)
    return DataBundle(
        info=info,
        train=TensorLoader(train, batch_size=cfg.batch_size, shuffle=True, seed=seed_of(cfg), transform_batch=transform),
        test=TensorLoader(test, batch_size=eval_bs, transform_batch=transform),
        val=val,
    )


# ---------------------------------------------------------------------------------
# Sequential MNIST
# ---------------------------------------------------------------------------------
@register_dataset("seq_mnist", task="classification", input_size=(28, 28))
def seq_mnist(cfg, *, mode: str = "row", permute: bool = False, permutation_seed: int = 0) -> DataBundle:
    """MNIST as a sequence: ``mode: row`` gives 28 steps of 28 pixels, ``pixel`` 784 steps of 1.

    ``permute: true`` reorders the time steps by one fixed random permutation
    (from ``permutation_seed``), the permuted pixel-MNIST of Le et al. (2015).
    Inputs are normalized with MNIST's mean and std; the MNIST files are found
    as for ``mnist`` (``ROOT/MNIST/raw``).
    """
    if mode not in ("row", "pixel"):
        raise ConfigError(f"data.mode must be 'row' or 'pixel', got {mode!r}")
    x_train, y_train, x_test, y_test = load_mnist(cfg, "mnist")
    steps, features = (28, 28) if mode == "row" else (784, 1)
    x_train, x_test = x_train.reshape(-1, steps, features), x_test.reshape(-1, steps, features)
    perm = None
    if permute:
        perm = torch.randperm(steps, generator=torch.Generator().manual_seed(_int_option(permutation_seed, "permutation_seed", 0)))
        x_train, x_test = x_train[:, perm].contiguous(), x_test[:, perm].contiguous()
    mean, std = MNIST_STATS
    norm = Normalize(mean[0], std[0])
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    val = None
    if cfg.val_split:
        keep, held = split_indices(len(y_train), cfg.val_split, cfg.split_seed)
        val = TensorLoader((x_train[held], y_train[held]), batch_size=eval_bs, transform=norm)
        x_train, y_train = x_train[keep], y_train[keep]
    info = DataInfo(
        name="seq_mnist",
        task="classification",
        input_size=(steps, features),
        classes=[str(i) for i in range(10)],
        mean=mean,
        std=std,
        model_kwargs={"num_classes": 10, "input_size": features},
        extra={"mode": mode, "permute": permute, **({"permutation_seed": permutation_seed} if permute else {})},
    )
    return DataBundle(
        info=info,
        train=TensorLoader((x_train, y_train), batch_size=cfg.batch_size, shuffle=True, seed=seed_of(cfg), transform=norm),
        test=TensorLoader((x_test, y_test), batch_size=eval_bs, transform=norm),
        val=val,
    )


# ---------------------------------------------------------------------------------
# Moving MNIST
# ---------------------------------------------------------------------------------
def _bounce(start: Tensor, velocity: Tensor, steps: int) -> Tensor:
    """Positions in [0, 1] of points moving at ``velocity`` per step and reflecting
    elastically off 0 and 1 (a triangle wave), for steps 0..steps-1: (..., steps)."""
    t = torch.arange(steps, dtype=start.dtype, device=start.device)
    u = torch.remainder(start.unsqueeze(-1) + velocity.unsqueeze(-1) * t, 2.0)
    return 1.0 - (u - 1.0).abs()


def render_moving_digits(digits: Tensor, rows: Tensor, cols: Tensor, size: int) -> Tensor:
    """Frames (B, T, size, size): digit ``d`` of ``digits`` (B, D, h, w) pasted with
    its top-left corner at integer ``rows``/``cols`` (B, D, T), overlapping digits
    combined by max (as Srivastava et al.).

    Each digit is zero-padded once so that placing it at (r, c) is cropping a
    ``size x size`` window at (size - h - r, size - w - c); all windows of the
    batch are one ``gather`` (the same trick as the batched random crop).
    """
    b, d, h, w = digits.shape
    t = rows.shape[-1]
    fy, fx = size - h, size - w
    padded = digits.new_zeros(b, d, h + 2 * fy, w + 2 * fx)
    padded[:, :, fy : fy + h, fx : fx + w] = digits
    width = w + 2 * fx
    ar = torch.arange(size, device=digits.device)
    win_rows = (fy - rows).unsqueeze(-1) + ar  # (B, D, T, size)
    win_cols = (fx - cols).unsqueeze(-1) + ar
    index = (win_rows.unsqueeze(-1) * width + win_cols.unsqueeze(-2)).view(b, d, t * size * size)
    frames = padded.view(b, d, -1).gather(2, index).view(b, d, t, size, size)
    return frames.amax(dim=1)


class MovingMNISTLoader(BatchLoader):
    """Moving-MNIST batches rendered on the fly from MNIST digits held in memory.

    Per epoch, each of ``num_samples`` sequences gets its digits, start points
    and directions from the ``(seed, epoch)`` generator (the test loader, or
    ``resample=False``, uses epoch 0 always: a fixed set). Speed ``step`` of the
    frame per step, as Srivastava et al.'s generator (0.1 of the free range).
    Only the batch being served is rendered, so the set costs no memory.
    """

    def __init__(
        self,
        digits: Tensor,
        *,
        num_samples: int,
        batch_size: int,
        frames_in: int = 10,
        frames_out: int = 10,
        num_digits: int = 2,
        image_size: int = 64,
        step: float = 0.1,
        shuffle: bool = False,
        resample: bool = True,
        seed: int = 0,
    ) -> None:
        self.digits = digits
        self._n = int(num_samples)
        self.batch_size = int(batch_size)
        self.frames_in, self.frames_out = frames_in, frames_out
        self.num_digits = num_digits
        self.image_size = image_size
        self.step = step
        self.shuffle = shuffle
        self.resample = resample
        self.seed = seed
        self.drop_last = False
        self._init_state()

    @property
    def num_samples(self) -> int:
        return self._n

    @property
    def device(self) -> torch.device:
        return self.digits.device

    def to(self, device: Any) -> "MovingMNISTLoader":
        device = torch.device(device)
        if device == self.device:
            return self
        clone = self._clone()
        clone.digits = self.digits.to(device)
        return clone

    def draw(self, epoch: int) -> dict[str, Tensor]:
        """Digits and trajectories of every sequence of an epoch."""
        gen = epoch_generator(self.seed, epoch if (self.shuffle and self.resample) else 0)
        n, d = self._n, self.num_digits
        which = torch.randint(0, len(self.digits), (n, d), generator=gen)
        start = torch.rand(n, d, 2, generator=gen)
        theta = torch.rand(n, d, generator=gen) * (2 * math.pi)
        velocity = torch.stack([theta.sin(), theta.cos()], dim=-1) * self.step
        if self.shuffle:
            # A fixed set (resample=False) is still visited in a new order every epoch.
            order_gen = gen if self.resample else epoch_generator(self.seed + 1, epoch)
            order = torch.randperm(n, generator=order_gen)
        else:
            order = torch.arange(n)
        return {"which": which, "start": start, "velocity": velocity, "order": order}

    def render(self, which: Tensor, start: Tensor, velocity: Tensor) -> Tensor:
        """(B, T, 1, H, W) float frames in [0, 1] of the given sequences."""
        steps = self.frames_in + self.frames_out
        h = self.digits.shape[-1]
        free = self.image_size - h
        pos = _bounce(start.to(self.device), velocity.to(self.device), steps)  # (B, D, 2, T)
        corners = (pos * free).round().long()
        frames = render_moving_digits(self.digits[which.to(self.device)], corners[:, :, 0], corners[:, :, 1], self.image_size)
        return frames.unsqueeze(2).to(torch.float32).div_(255.0)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        p = self.draw(self.epoch)
        for b in self._batch_range():
            lo, hi = self._rank_slice(b)
            idx = p["order"][lo:hi]
            frames = self.render(p["which"][idx], p["start"][idx], p["velocity"][idx])
            yield frames[:, : self.frames_in], frames[:, self.frames_in :]


@register_dataset("moving_mnist", task="frames", input_size=(10, 1, 64, 64))
def moving_mnist(
    cfg,
    *,
    train_size: int = 10_000,
    test_size: int = 10_000,
    frames_in: int = 10,
    frames_out: int = 10,
    num_digits: int = 2,
    image_size: int = 64,
    resample: bool = True,
    seed: int = 0,
) -> DataBundle:
    """Moving MNIST (Srivastava et al. 2015): ``num_digits`` digits bouncing in an ``image_size`` frame.

    Sequences of ``frames_in + frames_out`` frames; the model sees the first
    ``frames_in`` and predicts the rest. An epoch is ``train_size`` sequences of
    MNIST train digits, new ones every epoch (``resample``, the paper's endless
    stream). Rendering is vectorized and done per batch on the data's device. The
    MNIST files are found as for ``mnist``.

    The test set is fixed: ``test_size`` (default 10,000, the size of the usual
    ``mnist_test_seq.npy``) sequences of MNIST *test* digits whose digits, start
    points and directions are drawn in one go from a CPU ``torch.Generator``
    seeded by ``seed`` alone (:func:`~zoo.data.core.epoch_generator` of
    ``10_007 + seed``, epoch 0), whatever the training seed, epoch or device: the
    same MNIST files, ``seed`` and shape options give the same tensors every time,
    so every model (and the copy-last baseline) is scored on the same sequences.
    A different ``test_size`` draws a different set, not a prefix. (``seed`` is the
    builder's own argument; a config's ``data.seed`` is the shuffling seed, so a
    run from a config always gets the test set of ``seed=0``.)
    """
    train_size, test_size = _int_option(train_size, "train_size"), _int_option(test_size, "test_size")
    frames_in, frames_out = _int_option(frames_in, "frames_in"), _int_option(frames_out, "frames_out")
    num_digits = _int_option(num_digits, "num_digits")
    image_size = _int_option(image_size, "image_size", 28)
    seed = _int_option(seed, "seed", 0)
    x_train, _, x_test, _ = load_mnist(cfg, "mnist")
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    common = dict(frames_in=frames_in, frames_out=frames_out, num_digits=num_digits, image_size=image_size)
    train = MovingMNISTLoader(x_train[:, 0], num_samples=train_size, batch_size=cfg.batch_size, shuffle=True,
                              resample=resample, seed=seed_of(cfg) * 7_777 + seed, **common)
    test = MovingMNISTLoader(x_test[:, 0], num_samples=test_size, batch_size=eval_bs, seed=10_007 + seed, **common)
    val = None
    if cfg.val_split:
        # Fixed sequences of train digits, from their own seed.
        val = MovingMNISTLoader(x_train[:, 0], num_samples=max(1, int(round(train_size * cfg.val_split))),
                                batch_size=eval_bs, seed=20_011 + seed, **common)
    info = DataInfo(
        name="moving_mnist",
        task="frames",
        input_size=(frames_in, 1, image_size, image_size),
        model_kwargs={"in_chans": 1, "frames_out": frames_out},
        extra={"frames_in": frames_in, "frames_out": frames_out, "num_digits": num_digits, "image_size": image_size},
    )
    return DataBundle(info=info, train=train, test=test, val=val)
