"""benchmarks/cifar_jpeg.py: the re-encoded copy is a CIFAR-10 data.root the zoo loads,
with the same labels and the images changed by one JPEG pass."""

import subprocess
import sys

import numpy as np

from zoo.data import build_dataset

from .conftest import ROOT
from .test_data_vision import cfg_for

CLASSES = np.array(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])


def smooth_images(rng, n):
    # Low-frequency content, as in photographs, so that JPEG keeps most of it.
    coarse = rng.integers(0, 256, (n, 4, 4, 3)).astype(np.float64)
    return np.kron(coarse, np.ones((1, 8, 8, 1))).astype(np.uint8)


def write_copy(root, rng, sizes):
    """A small CIFAR-10 copy in the shared layout under ``root/CIFAR10``; its arrays by split."""
    (root / "CIFAR10").mkdir(parents=True)
    arrays = {}
    for split, n in sizes:
        arrays[split] = dict(images=smooth_images(rng, n), labels=rng.integers(0, 10, n), classes=CLASSES)
        np.savez(root / "CIFAR10" / f"cifar10_{split}.npz", **arrays[split])
    return arrays


def test_reencoded_copy_loads_with_same_labels(tmp_path):
    src = tmp_path / "src" / "CIFAR10"
    arrays = write_copy(src.parent, np.random.default_rng(0), (("train", 12), ("test", 6)))

    out = tmp_path / "q55"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cifar_jpeg.py"), "--root", str(src.parent),
                           "--quality", "55", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "train: 12 images, quality 55: PSNR" in done.stdout

    for split in ("train", "test"):
        with np.load(out / "CIFAR10" / f"cifar10_{split}.npz") as z:
            images, labels = z["images"], z["labels"]
            assert list(z["classes"]) == list(CLASSES)
        before = arrays[split]["images"]
        assert images.shape == before.shape and images.dtype == np.uint8
        np.testing.assert_array_equal(labels, arrays[split]["labels"])
        err = np.abs(images.astype(int) - before)
        # Changed by the pass, but still the same pictures (block edges cost the most).
        assert err.max() > 0 and err.mean() < 20

    bundle = build_dataset(cfg_for("cifar10", out))
    x, y = bundle.train.tensors
    assert x.shape == (12, 3, 32, 32)
    assert y.tolist() == arrays["train"]["labels"].tolist()


def test_pack_unpack_round_trip(tmp_path):
    src = tmp_path / "src" / "CIFAR10"
    arrays = write_copy(src.parent, np.random.default_rng(1), (("train", 10), ("test", 4)))
    script = [sys.executable, str(ROOT / "benchmarks" / "cifar_jpeg.py")]
    packed = tmp_path / "pack.npz"
    done = subprocess.run([*script, "--root", str(src.parent), "--quality", "75", "--pack", str(packed)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "unpacked"
    done = subprocess.run([*script, "--unpack", str(packed), "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from cifar_jpeg import reencode
    finally:
        sys.path.pop(0)
    for split in ("train", "test"):
        with np.load(out / "CIFAR10" / f"cifar10_{split}.npz") as z:
            # Exactly one JPEG pass at quality 75: what reencode gives, image for image.
            np.testing.assert_array_equal(z["images"], reencode(arrays[split]["images"], 75))
            np.testing.assert_array_equal(z["labels"], arrays[split]["labels"])
            assert list(z["classes"]) == list(CLASSES)
