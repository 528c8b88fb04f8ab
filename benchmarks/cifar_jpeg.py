"""A second JPEG pass over the CIFAR-10 copy, to measure what JPEG damage costs (issue 13).

The shared CIFAR-10 copy was decoded from JPEGs (quality about 75, 4:2:0 chroma): against
lossless originals its pixels are off by 5.8/255 on average, PSNR 30.0 dB
(shared/data/CIFAR10/SOURCE.md). No lossless copy is at hand, so the cost of that damage
cannot be measured directly. This script measures the next best thing: it re-encodes the
copy once more, at the quality whose error against the copy is the same size as the
copy's error against the originals (quality 55: PSNR 30.2 dB, mean error 5.8/255), and
writes it in the same ``ROOT/CIFAR10/cifar10_{train,test}.npz`` layout. Training the same
recipe on both copies gives the accuracy one such step of damage costs.

    python benchmarks/cifar_jpeg.py --quality 55 --out runs/jpeg55
    zoo train configs/published/resnet20_cifar10.yaml data.root=runs/jpeg55 run.dir=runs/q55

Both the training and the test images are re-encoded, as the originals were.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.vision import load_npz_arrays


def reencode(images: np.ndarray, quality: int) -> np.ndarray:
    """Each (H, W, 3) uint8 image through a baseline JPEG at ``quality`` with 4:2:0 chroma."""
    out = np.empty_like(images)
    for i, img in enumerate(images):
        buf = io.BytesIO()
        # subsampling=2 is 4:2:0, what the shared copy's JPEGs used.
        Image.fromarray(img).save(buf, "JPEG", quality=quality, subsampling=2)
        buf.seek(0)
        out[i] = np.asarray(Image.open(buf).convert("RGB"))
    return out


def damage(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(PSNR in dB, mean absolute error in 8-bit levels) of ``after`` against ``before``."""
    diff = after.astype(np.float64) - before
    return 10 * np.log10(255.0**2 / np.mean(diff**2)), float(np.mean(np.abs(diff)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/data", help="folder holding CIFAR10/cifar10_{train,test}.npz")
    ap.add_argument("--quality", type=int, default=55)
    ap.add_argument("--out", required=True, help="a new data.root; CIFAR10/ is written inside it")
    args = ap.parse_args()

    dest = Path(args.out) / "CIFAR10"
    dest.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        name = f"cifar10_{split}.npz"
        arrays = load_npz_arrays(Path(args.root) / "CIFAR10" / name)
        images = reencode(arrays["images"], args.quality)
        psnr, mae = damage(arrays["images"], images)
        print(f"{split}: {len(images)} images, quality {args.quality}: PSNR {psnr:.1f} dB, "
              f"mean |error| {mae:.2f}/255 against the input copy")
        arrays["images"] = images
        np.savez(dest / name, **arrays)
    print(f"written to {dest}")


if __name__ == "__main__":
    main()
