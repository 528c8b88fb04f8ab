"""Sequence tasks: adding, copy, sequential MNIST, Moving MNIST."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data import build_dataset
from zoo.data.sequence import _bounce, adding_problem, copy_task, render_moving_digits
from zoo.engine.config import DataConfig
from zoo.errors import ConfigError, DataError



def assert_close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> None:
    """torch.allclose with the worst difference in the message (torch.testing imports
    torch.distributed, seconds on a busy machine)."""
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.allclose(a, b, rtol=tol, atol=tol), f"max abs diff {(a - b).abs().max().item()}"

def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_mnist(root: Path, n_train: int = 40, n_test: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(1, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(1, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(root / "MNIST" / "raw" / f"{name}.gz", arr)
    return arrays


def cfg_for(name: str, root: Path | None = None, **kw) -> DataConfig:
    options = kw.pop("options", {})
    kw.setdefault("batch_size", 8)
    return DataConfig(name=name, root=str(root) if root else None, options=options, **kw)


def batches(loader):
    return [tuple(t.clone() for t in b) for b in loader]


def check_loader_interface(loader, epoch: int = 1) -> None:
    loader.set_epoch(epoch)
    full = batches(loader)
    assert len(full) == len(loader)
    assert sum(len(b[-1]) for b in full) == loader.num_samples
    for a, b in zip(full, batches(loader)):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    loader.skip(1)
    for a, b in zip(full[1:], batches(loader)):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    shards = [loader.shard(r, 2) for r in range(2)]
    for s in shards:
        s.set_epoch(epoch)
    for g, p0, p1 in zip(full, batches(shards[0]), batches(shards[1])):
        for k in range(len(g)):
            assert torch.equal(torch.cat([p0[k], p1[k]]), g[k])


# ---------------------------------------------------------------------------------
# Adding problem
# ---------------------------------------------------------------------------------
def test_adding_batches_and_targets():
    b = build_dataset(cfg_for("adding", options={"T": 30, "train_size": 64, "test_size": 16}))
    info = b.info
    assert info.task == "regression" and info.input_size == (30, 2)
    assert info.model_kwargs == {"input_size": 2, "task": "regression"}
    for loader in (b.train, b.test):
        for x, y in loader:
            assert x.shape[1:] == (30, 2) and x.dtype == torch.float32 and y.shape == (len(x),)
            markers = x[..., 1]
            assert torch.equal(markers.sum(1), torch.full((len(x),), 2.0))
            first, second = markers[:, :15].argmax(1), 15 + markers[:, 15:].argmax(1)
            assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()
            assert_close(y, x[torch.arange(len(x)), first, 0] + x[torch.arange(len(x)), second, 0])
            assert (x[..., 0] >= 0).all() and (x[..., 0] <= 1).all()
    check_loader_interface(b.train)
    assert 0.1 < info.extra["baseline_mse"] < 0.25


def test_adding_is_deterministic_in_its_seed():
    a = build_dataset(cfg_for("adding", options={"T": 10, "train_size": 20, "test_size": 5}))
    b = build_dataset(cfg_for("adding", options={"T": 10, "train_size": 20, "test_size": 5}))
    c = build_dataset(cfg_for("adding", options={"T": 10, "train_size": 20, "test_size": 5, "seed": 1}))
    assert all(torch.equal(s, t) for s, t in zip(a.test.tensors, b.test.tensors))
    assert not torch.equal(a.test.tensors[0], c.test.tensors[0])
    # The training seed moves the order, not the data.
    d = build_dataset(cfg_for("adding", seed=3, options={"T": 10, "train_size": 20, "test_size": 5}))
    assert torch.equal(d.train.tensors[0], a.train.tensors[0])
    assert not torch.equal(torch.cat([y for _, y in d.train]), torch.cat([y for _, y in a.train]))


def test_adding_hochreiter_variant():
    values, pos, target = adding_problem(500, 40, torch.Generator().manual_seed(0), "hochreiter")
    assert (values >= -1).all() and (values <= 1).all()
    assert (pos[:, 0] < 10).all() and (pos[:, 1] < 19).all() and (pos[:, 0] != pos[:, 1]).all()
    x1 = torch.where(pos[:, 0] == 0, torch.zeros(500), values.gather(1, pos[:, :1]).squeeze(1))
    assert_close(target, 0.5 + (x1 + values.gather(1, pos[:, 1:]).squeeze(1)) / 4)
    b = build_dataset(cfg_for("adding", options={"T": 40, "variant": "hochreiter", "train_size": 8, "test_size": 8}))
    x, _ = next(iter(b.test))
    m = x[..., 1]
    assert ((m[:, 0] == -1) | (m[:, 0] == 1)).all() and ((m[:, -1] == -1) | (m[:, -1] == 1)).all()
    with pytest.raises(ConfigError, match="data.variant"):
        build_dataset(cfg_for("adding", options={"variant": "other"}))
    with pytest.raises(ConfigError, match="data.T"):
        build_dataset(cfg_for("adding", options={"T": 0}))


# ---------------------------------------------------------------------------------
# Copy task
# ---------------------------------------------------------------------------------
def test_copy_task_layout():
    x, y = copy_task(6, 15, torch.Generator().manual_seed(0), length=4, symbols=5)
    assert x.shape == y.shape == (6, 23)
    assert ((x[:, :4] >= 1) & (x[:, :4] <= 5)).all()
    assert (x[:, 4:18] == 0).all() and (x[:, 18] == 6).all() and (x[:, 19:] == 0).all()
    assert (y[:, :19] == 0).all() and torch.equal(y[:, 19:], x[:, :4])


def test_copy_dataset():
    b = build_dataset(cfg_for("copy", options={"T": 20, "train_size": 32, "test_size": 8}))
    info = b.info
    assert info.task == "lm" and info.model_kwargs == {"vocab_size": 10, "num_classes": 10, "task": "lm"}
    x, y = next(iter(b.train))
    assert x.shape == y.shape == (8, 40) and x.dtype == y.dtype == torch.long
    assert torch.equal(y[:, -10:], x[:, :10])
    assert math.isclose(info.extra["baseline_loss"], 10 * math.log(8) / 40)
    check_loader_interface(b.train)


# ---------------------------------------------------------------------------------
# Sequential MNIST
# ---------------------------------------------------------------------------------
def test_seq_mnist_rows(tmp_path):
    arrays = make_mnist(tmp_path)
    b = build_dataset(cfg_for("seq_mnist", tmp_path))
    info = b.info
    assert info.input_size == (28, 28) and info.model_kwargs == {"num_classes": 10, "input_size": 28}
    x, y = next(iter(b.test))
    expected = (torch.from_numpy(arrays["t10k-images-idx3-ubyte"][:8]).float() / 255 - 0.1307) / 0.3081
    assert x.shape == (8, 28, 28) and x.dtype == torch.float32
    assert_close(x, expected)
    assert y.tolist() == arrays["t10k-labels-idx1-ubyte"][:8].tolist()
    check_loader_interface(b.train)


def test_seq_mnist_permuted_pixels(tmp_path):
    arrays = make_mnist(tmp_path)
    b = build_dataset(cfg_for("seq_mnist", tmp_path, options={"mode": "pixel", "permute": True}))
    assert b.info.input_size == (784, 1) and b.info.model_kwargs["input_size"] == 1
    x, _ = next(iter(b.test))
    pixels = (torch.from_numpy(arrays["t10k-images-idx3-ubyte"][:8]).float().flatten(1) / 255 - 0.1307) / 0.3081
    perm = torch.randperm(784, generator=torch.Generator().manual_seed(0))
    assert_close(x[..., 0], pixels[:, perm])
    other = build_dataset(cfg_for("seq_mnist", tmp_path, options={"mode": "pixel", "permute": True, "permutation_seed": 1}))
    assert not torch.equal(next(iter(other.test))[0], x)
    with pytest.raises(ConfigError, match="data.mode"):
        build_dataset(cfg_for("seq_mnist", tmp_path, options={"mode": "column"}))


def test_seq_mnist_and_moving_mnist_need_mnist(tmp_path):
    for name in ("seq_mnist", "moving_mnist"):
        with pytest.raises(DataError) as info:
            build_dataset(cfg_for(name, tmp_path))
        assert "train-images-idx3-ubyte.gz" in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------
# Moving MNIST
# ---------------------------------------------------------------------------------
def test_bounce_reflects_inside_unit_interval():
    start = torch.tensor([0.05, 0.9, 0.5])
    velocity = torch.tensor([-0.1, 0.1, 0.3])
    pos = _bounce(start, velocity, 30)
    assert (pos >= 0).all() and (pos <= 1).all()
    assert torch.allclose(pos[:, 1:].sub(pos[:, :-1]).abs().max(1).values, velocity.abs(), atol=1e-6)
    assert math.isclose(float(pos[0, 1]), 0.05, abs_tol=1e-6)  # 0.05 - 0.1 reflects to 0.05
    assert math.isclose(float(pos[1, 2]), 0.9, abs_tol=1e-6)  # 0.9 + 0.2 reflects to 0.9


def test_render_matches_naive_paste():
    gen = torch.Generator().manual_seed(0)
    digits = torch.randint(0, 256, (3, 2, 28, 28), dtype=torch.uint8, generator=gen)
    rows = torch.randint(0, 37, (3, 2, 5), generator=gen)
    cols = torch.randint(0, 37, (3, 2, 5), generator=gen)
    out = render_moving_digits(digits, rows, cols, 64)
    ref = torch.zeros(3, 5, 64, 64, dtype=torch.uint8)
    for b in range(3):
        for d in range(2):
            for t in range(5):
                r, c = int(rows[b, d, t]), int(cols[b, d, t])
                ref[b, t, r : r + 28, c : c + 28] = torch.maximum(ref[b, t, r : r + 28, c : c + 28], digits[b, d])
    assert torch.equal(out, ref)


def test_moving_mnist_sequences(tmp_path):
    make_mnist(tmp_path)
    b = build_dataset(cfg_for("moving_mnist", tmp_path, batch_size=4, options={"train_size": 12, "test_size": 6}))
    info = b.info
    assert info.task == "frames" and info.model_kwargs == {"in_chans": 1, "frames_out": 10}
    assert info.input_size == (10, 1, 64, 64)
    x, y = next(iter(b.train))
    assert x.shape == y.shape == (4, 10, 1, 64, 64) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and x.max() > 0.5
    # Every frame holds its digits: at least one full digit's worth of lit pixels.
    lit = (torch.cat([x, y], 1) > 0).flatten(2).sum(2)
    assert (lit >= 28 * 28).all()
    # Motion: consecutive frames differ, but by a bounded shift of the content.
    assert not torch.equal(x[:, 0], x[:, 1])
    # Test set fixed across epochs; training sequences resampled every epoch.
    b.test.set_epoch(0)
    t0 = batches(b.test)
    b.test.set_epoch(5)
    assert all(torch.equal(p[0], q[0]) for p, q in zip(t0, batches(b.test)))
    b.train.set_epoch(0)
    e0 = batches(b.train)
    b.train.set_epoch(1)
    assert not torch.equal(e0[0][0], batches(b.train)[0][0])
    small = {"train_size": 8, "test_size": 4, "image_size": 32, "frames_in": 2, "frames_out": 2}
    check_loader_interface(build_dataset(cfg_for("moving_mnist", tmp_path, batch_size=4, options=small)).train)
    fixed = build_dataset(cfg_for("moving_mnist", tmp_path, batch_size=4, options={**small, "resample": False}))
    fixed.train.set_epoch(0)
    f0 = torch.cat([s[0] for s in fixed.train])
    fixed.train.set_epoch(1)
    f1 = torch.cat([s[0] for s in fixed.train])
    assert not torch.equal(f0, f1) and torch.equal(f0.sum(dim=(1, 2, 3, 4)).sort().values, f1.sum(dim=(1, 2, 3, 4)).sort().values)


def test_moving_mnist_options(tmp_path):
    make_mnist(tmp_path)
    b = build_dataset(cfg_for("moving_mnist", tmp_path, batch_size=2, val_split=0.5,
                              options={"train_size": 4, "test_size": 2, "frames_in": 3, "frames_out": 2,
                                       "num_digits": 1, "image_size": 40}))
    x, y = next(iter(b.test))
    assert x.shape == (2, 3, 1, 40, 40) and y.shape == (2, 2, 1, 40, 40)
    assert b.val is not None and b.val.num_samples == 2
    with pytest.raises(ConfigError, match="data.image_size"):
        build_dataset(cfg_for("moving_mnist", tmp_path, options={"image_size": 20}))
