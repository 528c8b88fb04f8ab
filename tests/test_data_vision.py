"""Image datasets: real on-disk formats written here, loaders, batched augmentation."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data import build_dataset, list_datasets
from zoo.data.core import DataBundle, ImageTransform, TensorLoader, missing_files
from zoo.data.vision import read_idx
from zoo.engine.config import DataConfig
from zoo.errors import ConfigError, DataError

ALL_DATASETS = {
    "digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "imagefolder", "npz",
    "mr", "trec", "subj", "sst2", "ag_news", "imdb", "tinyshakespeare", "text_file",
    "adding", "copy", "seq_mnist", "moving_mnist",
}


# ---------------------------------------------------------------------------------
# Writers of the real formats
# ---------------------------------------------------------------------------------

def assert_close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> None:
    """torch.allclose with the worst difference in the message (torch.testing imports
    torch.distributed, seconds on a busy machine)."""
    assert a.shape == b.shape, (a.shape, b.shape)
    assert torch.allclose(a, b, rtol=tol, atol=tol), f"max abs diff {(a - b).abs().max().item()}"

def write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> Path:
    """LeCun's IDX: 0, 0, type 0x08 (uint8), ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def make_mnist(root: Path, folder: str = "MNIST", n_train: int = 64, n_test: int = 32, gz: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(root / folder / "raw" / (name + (".gz" if gz else "")), arr, gz=gz)
    return arrays


def make_cifar10(root: Path, per_batch: int = 6, n_test: int = 8, seed: int = 0):
    """torchvision's cifar-10-batches-py: pickled dicts of N x 3072 uint8 rows (R, G, B planes)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        entry = {
            "batch_label": f"{name} of 5",
            "labels": rng.integers(0, 10, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        batches[name] = entry
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": per_batch, "num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return batches


def cfg_for(name: str, root: Path | None = None, **kw) -> DataConfig:
    options = kw.pop("options", {})
    kw.setdefault("batch_size", 8)
    return DataConfig(name=name, root=str(root) if root else None, options=options, **kw)


def batches(loader) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(t.clone() for t in b) for b in loader]


def check_loader_interface(loader, epoch: int = 3) -> None:
    """len, set_epoch determinism, skip = tail of the full epoch, shard slices = global batch."""
    loader.set_epoch(epoch)
    full = batches(loader)
    assert len(full) == len(loader)
    assert sum(len(b[-1]) for b in full) == loader.num_samples
    again = batches(loader)
    for a, b in zip(full, again):
        for x, y in zip(a, b):
            assert torch.equal(x, y)
    loader.skip(2)
    tail = batches(loader)
    assert len(tail) == len(full) - 2
    for a, b in zip(full[2:], tail):
        for x, y in zip(a, b):
            assert torch.equal(x, y)
    assert len(batches(loader)) == len(full)  # skip applies once
    shards = [loader.shard(r, 2) for r in range(2)]
    for s in shards:
        s.set_epoch(epoch)
    parts = [batches(s) for s in shards]
    assert len(parts[0]) == len(parts[1]) == len(full)
    for g, p0, p1 in zip(full, parts[0], parts[1]):
        for k in range(len(g)):
            assert torch.equal(torch.cat([p0[k], p1[k]]), g[k])


# ---------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------
def test_every_dataset_is_registered():
    assert ALL_DATASETS <= set(list_datasets())


def test_unknown_dataset_suggests_close_match():
    from zoo.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="cifar10"):
        build_dataset(cfg_for("cifar1O"))


def test_unknown_option_is_a_config_error(tmp_path):
    make_mnist(tmp_path)
    with pytest.raises(ConfigError, match="data.permute"):
        build_dataset(cfg_for("mnist", tmp_path, options={"permute": True}))


# ---------------------------------------------------------------------------------
# IDX / MNIST
# ---------------------------------------------------------------------------------
def test_read_idx_gz_and_raw_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", arr)), arr)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a", arr, gz=False)), arr)


def test_read_idx_int32_big_endian(tmp_path):
    arr = np.array([1, -2, 70000], dtype=">i4")
    payload = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + arr.tobytes()
    (tmp_path / "x").write_bytes(payload)
    assert read_idx(tmp_path / "x").tolist() == [1, -2, 70000]


@pytest.mark.parametrize("damage", ["truncate_gz", "short_payload", "bad_magic", "not_gzip"])
def test_read_idx_damaged_files_name_the_file(tmp_path, damage):
    arr = np.zeros((4, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "imgs.gz", arr)
    raw = path.read_bytes()
    if damage == "truncate_gz":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "short_payload":
        payload = gzip.decompress(raw)[:-10]
        path.write_bytes(gzip.compress(payload))
    elif damage == "bad_magic":
        path.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + gzip.decompress(raw)[4:]))
    else:
        path.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg


def test_mnist_from_gz_files(tmp_path):
    arrays = make_mnist(tmp_path)
    bundle = build_dataset(cfg_for("mnist", tmp_path, batch_size=16))
    info = bundle.info
    assert info.task == "classification" and info.input_size == (1, 28, 28)
    assert info.model_kwargs == {"num_classes": 10, "in_chans": 1}
    assert info.mean == (0.1307,) and info.std == (0.3081,)
    assert bundle.train.num_samples == 64 and bundle.test.num_samples == 32
    assert len(bundle.train) == 4 and bundle.val is None
    # Test loader: in file order, exactly normalized, no augmentation.
    x, y = next(iter(bundle.test))
    expected = (torch.from_numpy(arrays["t10k-images-idx3-ubyte"][:16]).float() / 255 - 0.1307) / 0.3081
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32
    assert_close(x[:, 0], expected)
    assert y.tolist() == arrays["t10k-labels-idx1-ubyte"][:16].tolist()
    # Train loader: a permutation of the training set, unaugmented.
    xs, ys = zip(*bundle.train)
    xs, ys = torch.cat(xs), torch.cat(ys)
    assert sorted(ys.tolist()) == sorted(arrays["train-labels-idx1-ubyte"].tolist())
    all_train = (torch.from_numpy(arrays["train-images-idx3-ubyte"]).float() / 255 - 0.1307) / 0.3081
    flat = all_train.flatten(1)
    for row in xs.flatten(1)[:5]:
        assert torch.isclose(flat, row, atol=1e-5).all(dim=1).any()


def test_mnist_crop_padding_shifts_training_digits(tmp_path):
    arrays = make_mnist(tmp_path, n_train=16)
    assert not build_dataset(cfg_for("mnist", tmp_path)).train.transform.random
    bundle = build_dataset(cfg_for("mnist", tmp_path, batch_size=16, options={"crop_padding": 2}))
    assert bundle.train.transform.crop_padding == 2 and not bundle.train.transform.flip
    assert not bundle.test.transform.random
    # Each training image is its original moved by at most 2 px each way, the uncovered
    # border filled with background (0 before normalization); the labels stay with it.
    originals = torch.from_numpy(arrays["train-images-idx3-ubyte"]).float()
    labels = arrays["train-labels-idx1-ubyte"].tolist()
    x, y = next(iter(bundle.train))
    raw = (x[:, 0] * 0.3081 + 0.1307) * 255
    padded = torch.nn.functional.pad(originals, (2, 2, 2, 2))
    shifts = set()
    for img, label in zip(raw, y.tolist()):
        found = [(i, dr, dc) for i in range(16) for dr in range(5) for dc in range(5)
                 if torch.allclose(padded[i, dr:dr + 28, dc:dc + 28], img, atol=1e-3)]
        assert found and labels[found[0][0]] == label
        shifts.add(found[0][1:])
    assert len(shifts) > 1  # not one fixed offset
    with pytest.raises(ConfigError):
        build_dataset(cfg_for("mnist", tmp_path, options={"crop_padding": -1}))


def test_mnist_from_uncompressed_files_and_fashion(tmp_path):
    make_mnist(tmp_path, gz=False)
    assert build_dataset(cfg_for("mnist", tmp_path)).train.num_samples == 64
    make_mnist(tmp_path, folder="FashionMNIST", n_train=40)
    bundle = build_dataset(cfg_for("fashion_mnist", tmp_path))
    assert bundle.train.num_samples == 40
    assert bundle.info.classes[0] == "T-shirt/top" and bundle.info.mean == (0.2860,)


def test_mnist_missing_offline_one_line(tmp_path):
    with pytest.raises(DataError) as info:
        build_dataset(cfg_for("mnist", tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and "'mnist'" in msg
    assert str(tmp_path / "MNIST" / "raw") in msg
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert name in msg
    assert "data.download=true" in msg


def test_mnist_one_missing_file_is_reported(tmp_path):
    make_mnist(tmp_path)
    os.remove(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        build_dataset(cfg_for("mnist", tmp_path))


def test_mnist_label_count_mismatch(tmp_path):
    make_mnist(tmp_path)
    write_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz", np.zeros(63, np.uint8))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        build_dataset(cfg_for("mnist", tmp_path))


def test_mnist_download_uses_torchvision(tmp_path, monkeypatch):
    """download=true hands the work to torchvision's MNIST (faked here: no network)."""
    import torchvision.datasets as tvd

    calls = []

    class FakeMNIST:
        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            make_mnist(Path(root)) if not (Path(root) / "MNIST" / "raw").exists() else None

    monkeypatch.setattr(tvd, "MNIST", FakeMNIST)
    bundle = build_dataset(cfg_for("mnist", tmp_path, download=True))
    assert bundle.train.num_samples == 64
    assert calls and all(c[0] == str(tmp_path) and c[2] for c in calls)
    # Files present: no second download.
    calls.clear()
    build_dataset(cfg_for("mnist", tmp_path, download=True))
    assert calls == []


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, *a, **k):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://...")

    monkeypatch.setattr(tvd, "MNIST", Offline)
    monkeypatch.setattr(tvd, "CIFAR10", Offline)
    for name in ("mnist", "cifar10"):
        with pytest.raises(DataError) as info:
            build_dataset(cfg_for(name, tmp_path, download=True))
        assert "\n" not in str(info.value) and "download failed" in str(info.value)


# ---------------------------------------------------------------------------------
# CIFAR
# ---------------------------------------------------------------------------------
def test_cifar10_from_python_pickles(tmp_path):
    entries = make_cifar10(tmp_path)
    bundle = build_dataset(cfg_for("cifar10", tmp_path, batch_size=4))
    info = bundle.info
    assert info.classes[0] == "airplane" and info.input_size == (3, 32, 32)
    assert info.model_kwargs == {"num_classes": 10, "in_chans": 3}
    assert bundle.train.num_samples == 30 and bundle.test.num_samples == 8
    # Row layout: 1024 red, 1024 green, 1024 blue, each row-major 32x32.
    x_test, y_test = bundle.test.tensors
    row = entries["test_batch"]["data"][3]
    assert x_test[3, 1, 5, 7].item() == row[1024 + 5 * 32 + 7]
    assert y_test.tolist() == entries["test_batch"]["labels"]
    x_train, y_train = bundle.train.tensors
    assert y_train[6:12].tolist() == entries["data_batch_2"]["labels"]
    # Training augmentation is on (4-px crop, flip), evaluation has none.
    assert bundle.train.transform.crop_padding == 4 and bundle.train.transform.flip
    assert not bundle.test.transform.random


def test_cifar10_augment_off(tmp_path):
    make_cifar10(tmp_path)
    bundle = build_dataset(cfg_for("cifar10", tmp_path, augment=False, options={"cutout": 16}))
    assert not bundle.train.transform.random


def test_cifar10_cutout_option(tmp_path):
    make_cifar10(tmp_path)
    assert build_dataset(cfg_for("cifar10", tmp_path)).train.transform.cutout == 0
    bundle = build_dataset(cfg_for("cifar10", tmp_path, options={"cutout": 16}))
    assert bundle.train.transform.cutout == 16 and bundle.test.transform.cutout == 0
    bundle.train.set_epoch(0)
    x, _ = next(iter(bundle.train))
    # Each training image has a blanked square: at least 8 x 8 pixels (a corner centre),
    # at most 16 x 16, exactly zero in every channel after normalization.
    blank = (x == 0).all(dim=1).flatten(1).sum(1)
    assert ((blank >= 64) & (blank <= 256)).all(), blank
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="data.cutout"):
            build_dataset(cfg_for("cifar10", tmp_path, options={"cutout": bad}))


def test_cifar10_from_npz(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "CIFAR10").mkdir()
    train = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "CIFAR10" / "cifar10_train.npz", images=train, labels=rng.integers(0, 10, 20),
             classes=np.array(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]))
    np.savez(tmp_path / "CIFAR10" / "cifar10_test.npz", images=train[:10], labels=rng.integers(0, 10, 10))
    bundle = build_dataset(cfg_for("cifar10", tmp_path))
    x, _ = bundle.train.tensors
    assert x.shape == (20, 3, 32, 32)
    assert x[2, 2, 4, 9].item() == train[2, 4, 9, 2]  # NHWC -> NCHW
    assert bundle.info.extra["source"].endswith("CIFAR10")


def test_cifar100_fine_and_coarse(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 12), ("test", 6)):
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "fine_labels": rng.integers(0, 100, n).tolist(),
                         "coarse_labels": rng.integers(0, 20, n).tolist()}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}, f)
    fine = build_dataset(cfg_for("cifar100", tmp_path))
    assert fine.info.num_classes == 100 and fine.info.classes[5] == "f5" and fine.info.mean == (0.5071, 0.4865, 0.4409)
    coarse = build_dataset(cfg_for("cifar100", tmp_path, options={"coarse": True}))
    assert coarse.info.num_classes == 20 and coarse.info.classes[3] == "c3"


def test_cifar_missing_names_both_forms(tmp_path):
    with pytest.raises(DataError) as info:
        build_dataset(cfg_for("cifar10", tmp_path))
    msg = str(info.value)
    assert "\n" not in msg and "data_batch_1" in msg and "test_batch" in msg and "cifar10_train.npz" in msg
    assert str(tmp_path / "cifar-10-batches-py") in msg


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_cifar_pickle_cannot_run_code(tmp_path, monkeypatch):
    make_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({"data": _Evil(), "labels": []}, f)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="data_batch_3"):
        build_dataset(cfg_for("cifar10", tmp_path))
    assert not (tmp_path / "pwned.txt").exists()


def test_cifar_truncated_pickle(tmp_path):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError) as info:
        build_dataset(cfg_for("cifar10", tmp_path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------
# Batched augmentation
# ---------------------------------------------------------------------------------
def test_image_transform_crop_flip_normalize_match_reference():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 8, 10), dtype=torch.uint8, generator=gen)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    tf = ImageTransform(mean, std, crop_padding=3, flip=True)
    params = tf.draw(16, gen)
    out = tf(x, params)
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    for i in range(16):
        r, c = params["offset"][i].tolist()
        ref = padded[i, :, r : r + 8, c : c + 10]
        if params["flip"][i]:
            ref = ref.flip(-1)
        assert_close(out[i], (ref.float() / 255 - m) / s)
    assert params["flip"].any() and not params["flip"].all()
    assert (params["offset"] != 3).any()


def test_image_transform_cutout_matches_reference():
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (32, 3, 12, 10), dtype=torch.uint8, generator=gen)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    tf = ImageTransform(mean, std, crop_padding=2, flip=True, cutout=5)
    params = tf.draw(32, gen)
    out = tf(x, params)
    plain = ImageTransform(mean, std, crop_padding=2, flip=True)(x, {k: params[k] for k in ("offset", "flip")})
    sizes = set()
    for i in range(32):
        # An L x L square, rows [cy - L//2, cy - L//2 + L), clipped to the image (for even L,
        # the paper's sizes, the square of DeVries & Taylor's code).
        cy, cx = int(params["cutout"][i, 0] * 12), int(params["cutout"][i, 1] * 10)
        ref = plain[i].clone()
        ref[:, max(cy - 2, 0) : max(cy + 3, 0), max(cx - 2, 0) : max(cx + 3, 0)] = 0
        assert_close(out[i], ref)
        sizes.add(int((ref == 0).all(0).sum()))
    assert 25 in sizes and min(sizes) < 25  # whole squares and ones clipped at the border
    assert tf.random and not tf.without_augmentation().random
    assert ImageTransform(mean, std, cutout=4).random


def test_image_transform_flip_only_and_plain():
    x = torch.randint(0, 256, (4, 1, 5, 5), dtype=torch.uint8)
    tf = ImageTransform((0.0,), (1.0,), flip=True)
    params = {"flip": torch.tensor([True, False, True, False])}
    out = tf(x, params)
    assert_close(out[0, 0], x[0, 0].flip(-1).float() / 255)
    assert_close(out[1, 0], x[1, 0].float() / 255)
    assert torch.equal(tf.augment(x, None), x)
    with pytest.raises(ValueError):
        ImageTransform((0.5,), (0.0,))


def _tensor_loader(n=37, bs=8, **kw):
    x = torch.arange(n * 3 * 4 * 4, dtype=torch.int64).remainder(256).to(torch.uint8).view(n, 3, 4, 4)
    y = torch.arange(n)
    return TensorLoader((x, y), batch_size=bs, **kw)


def test_tensor_loader_interface_shuffled_and_augmented():
    tf = ImageTransform((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), crop_padding=2, flip=True)
    loader = _tensor_loader(shuffle=True, seed=5, transform=tf)
    check_loader_interface(loader)
    loader.set_epoch(0)
    e0 = torch.cat([b[1] for b in loader])
    loader.set_epoch(1)
    e1 = torch.cat([b[1] for b in loader])
    assert sorted(e0.tolist()) == list(range(37)) and not torch.equal(e0, e1)
    # Another seed, another order.
    other = _tensor_loader(shuffle=True, seed=6, transform=tf)
    assert not torch.equal(torch.cat([b[1] for b in other]), torch.cat([b[1] for b in loader]))


def test_tensor_loader_in_order_and_drop_last():
    loader = _tensor_loader(shuffle=False)
    assert torch.equal(torch.cat([b[1] for b in loader]), torch.arange(37))
    assert len(_tensor_loader(drop_last=True)) == 4 and len(loader) == 5
    check_loader_interface(loader)


def test_tensor_loader_shard_drops_a_tail_too_small_for_every_rank():
    loader = _tensor_loader(n=33, bs=8)  # last batch has 1 sample
    assert len(loader) == 5
    shards = [loader.shard(r, 2) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 4
    with pytest.raises(ValueError):
        loader.shard(0, 16)


def test_bundle_to_device_keeps_interface(tmp_path):
    make_mnist(tmp_path)
    bundle = build_dataset(cfg_for("mnist", tmp_path, val_split=0.25), device="cpu")
    assert isinstance(bundle, DataBundle) and bundle.val is not None
    assert bundle.val.num_samples == 16 and bundle.train.num_samples == 48
    assert bundle.eval_split is bundle.val
    moved = bundle.to("cpu")
    assert moved.train.num_samples == 48


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bundle_on_cuda(tmp_path):
    make_cifar10(tmp_path)
    bundle = build_dataset(cfg_for("cifar10", tmp_path), device="cuda")
    x, y = next(iter(bundle.train))
    assert x.is_cuda and y.is_cuda and x.dtype == torch.float32
    cpu = build_dataset(cfg_for("cifar10", tmp_path))
    xc, yc = next(iter(cpu.train))
    assert_close(x.cpu(), xc)


# ---------------------------------------------------------------------------------
# npz
# ---------------------------------------------------------------------------------
def test_npz_nhwc_with_split_and_stats(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (50, 12, 12, 3), dtype=np.uint8)
    np.savez(tmp_path / "data.npz", images=images, labels=np.arange(50) % 5, classes=np.array(list("abcde")))
    bundle = build_dataset(cfg_for("npz", tmp_path, options={"path": "data.npz", "test_split": 0.2}))
    info = bundle.info
    assert info.classes == list("abcde") and info.input_size == (3, 12, 12) and info.num_classes == 5
    assert bundle.train.num_samples == 40 and bundle.test.num_samples == 10
    x_train = bundle.train.tensors[0]
    expected = x_train.double().mean(dim=(0, 2, 3)) / 255
    assert np.allclose(info.mean, expected.numpy(), atol=1e-4)
    assert np.allclose(info.std, (x_train.double() / 255).std(dim=(0, 2, 3)).numpy(), atol=1e-4)
    check_loader_interface(bundle.train)


def test_npz_nchw_grey_and_test_file(tmp_path):
    rng = np.random.default_rng(4)
    np.savez(tmp_path / "tr.npz", images=rng.integers(0, 256, (10, 1, 9, 9), dtype=np.uint8), labels=np.arange(10) % 2)
    np.savez(tmp_path / "te.npz", images=rng.integers(0, 256, (4, 1, 9, 9), dtype=np.uint8), labels=np.arange(4) % 2)
    bundle = build_dataset(cfg_for("npz", options={"path": str(tmp_path / "tr.npz"), "test_path": str(tmp_path / "te.npz"),
                                                   "mean": 0.5, "std": 0.25, "flip": True}))
    assert bundle.info.input_size == (1, 9, 9) and bundle.info.mean == (0.5,)
    assert bundle.test.num_samples == 4 and bundle.train.transform.flip
    np.savez(tmp_path / "grey.npz", images=rng.integers(0, 256, (6, 7, 7), dtype=np.uint8), labels=np.zeros(6, int))
    g = build_dataset(cfg_for("npz", tmp_path, options={"path": "grey.npz", "test_split": 0.5}))
    assert g.info.input_size == (1, 7, 7)


def test_npz_folder_form(tmp_path):
    rng = np.random.default_rng(5)
    d = tmp_path / "arrays"
    d.mkdir()
    np.savez(d / "x_train.npz", images=rng.integers(0, 256, (8, 4, 4, 3), dtype=np.uint8), labels=np.arange(8) % 2)
    np.savez(d / "x_test.npz", images=rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8), labels=np.arange(3) % 2)
    bundle = build_dataset(cfg_for("npz", tmp_path, options={"path": "arrays"}))
    assert (bundle.train.num_samples, bundle.test.num_samples) == (8, 3)


def test_npz_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="data.path"):
        build_dataset(cfg_for("npz", tmp_path))
    with pytest.raises(DataError, match="not found"):
        build_dataset(cfg_for("npz", tmp_path, options={"path": "nope.npz"}))
    np.savez(tmp_path / "nolabels.npz", images=np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(DataError, match="'labels'"):
        build_dataset(cfg_for("npz", tmp_path, options={"path": "nolabels.npz"}))
    np.savez(tmp_path / "float.npz", images=np.zeros((3, 4, 4), np.float32), labels=np.zeros(3, int))
    with pytest.raises(DataError, match="uint8"):
        build_dataset(cfg_for("npz", tmp_path, options={"path": "float.npz"}))
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError) as info:
        build_dataset(cfg_for("npz", tmp_path, options={"path": "junk.npz"}))
    assert "junk.npz" in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------
# imagefolder
# ---------------------------------------------------------------------------------
def make_image_tree(base: Path, classes=("cat", "dog"), per_class=5, size=(10, 12), seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (base / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (size[0], size[1], 3), dtype=np.uint8)
            Image.fromarray(arr).save(base / c / f"{i}.png")


def test_imagefolder_train_val_tree_with_dataloader(tmp_path):
    make_image_tree(tmp_path / "pets" / "train", per_class=6)
    make_image_tree(tmp_path / "pets" / "val", per_class=2, seed=1)
    cfg = cfg_for("imagefolder", tmp_path, batch_size=4, options={"path": "pets", "image_size": 8, "crop_padding": 2})
    bundle = build_dataset(cfg)
    info = bundle.info
    assert info.classes == ["cat", "dog"] and info.input_size == (3, 8, 8)
    assert info.model_kwargs == {"num_classes": 2, "in_chans": 3}
    assert bundle.train.num_samples == 12 and bundle.test.num_samples == 4
    x, y = next(iter(bundle.test))
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32 and y.tolist() == [0, 0, 1, 1]
    check_loader_interface(bundle.train)
    # Same seed, same epoch: decoding in memory gives exactly the DataLoader's batches.
    mem = build_dataset(cfg_for("imagefolder", tmp_path, batch_size=4,
                                options={"path": "pets", "image_size": 8, "crop_padding": 2, "in_memory": True}))
    bundle.train.set_epoch(1)
    mem.train.set_epoch(1)
    for a, b in zip(batches(bundle.train), batches(mem.train)):
        assert_close(a[0], b[0])
        assert torch.equal(a[1], b[1])


def test_imagefolder_single_tree_split_and_default_size(tmp_path):
    make_image_tree(tmp_path / "flat", classes=("a", "b", "c"), per_class=5, size=(9, 11))
    bundle = build_dataset(cfg_for("imagefolder", options={"path": str(tmp_path / "flat"), "test_split": 0.2}))
    assert bundle.info.input_size == (3, 9, 9)
    assert bundle.train.num_samples == 12 and bundle.test.num_samples == 3


def test_imagefolder_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="data.path"):
        build_dataset(cfg_for("imagefolder", tmp_path))
    with pytest.raises(DataError, match="folder not found"):
        build_dataset(cfg_for("imagefolder", tmp_path, options={"path": "missing"}))
    make_image_tree(tmp_path / "t", per_class=2)
    (tmp_path / "t" / "cat" / "9.png").write_bytes(b"\x89PNG broken")
    bundle = build_dataset(cfg_for("imagefolder", tmp_path, options={"path": "t", "image_size": 8, "test_split": 0.5}))
    with pytest.raises(DataError) as info:
        for split in (bundle.train, bundle.test):
            list(split)
    assert "9.png" in str(info.value) and "\n" not in str(info.value)


def test_missing_files_message_shape(tmp_path):
    err = missing_files("x", tmp_path / "X", ["a", "b"])
    assert str(err).count("\n") == 0 and "a, b" in str(err) and str(tmp_path / "X") in str(err)


def test_digits_still_builds():
    bundle = build_dataset(cfg_for("digits", batch_size=64))
    assert bundle.train.num_samples == 1437 and bundle.info.input_size == (1, 32, 32)
