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

The same pass also carries the copy where 171 MB cannot go (the GPU machine takes 64 MiB
with the work tree): ``--pack`` keeps the JPEG streams themselves, about 19 MB at quality
75, and ``--unpack`` decodes them into the npz layout there. At the copy's own quality the
pass barely moves it (PSNR 50.8 dB, mean error 0.16/255 against the copy, which is itself
30 dB from the originals), since the same quantizer finds the same coefficients again.

    python benchmarks/cifar_jpeg.py --quality 75 --pack data/cifar10_q75.npz
    python benchmarks/cifar_jpeg.py --unpack data/cifar10_q75.npz --out data
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.data.vision import load_npz_arrays


def encode(img: np.ndarray, quality: int) -> bytes:
    """One (H, W, 3) uint8 image as a baseline JPEG at ``quality`` with 4:2:0 chroma."""
    buf = io.BytesIO()
    # subsampling=2 is 4:2:0, what the shared copy's JPEGs used.
    Image.fromarray(img).save(buf, "JPEG", quality=quality, subsampling=2)
    return buf.getvalue()


def decode(stream: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(stream)).convert("RGB"))


def reencode(images: np.ndarray, quality: int) -> np.ndarray:
    """Each image through one JPEG pass (encode, then decode)."""
    out = np.empty_like(images)
    for i, img in enumerate(images):
        out[i] = decode(encode(img, quality))
    return out


def pack(root: Path, dest: Path, quality: int) -> None:
    """Both splits as JPEG streams in one compressed npz: ``{split}_streams`` (the streams
    end to end), ``{split}_offsets`` (n + 1 boundaries), ``{split}_labels`` and ``classes``.
    The identical headers of the streams are left to the npz's deflate to squeeze."""
    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        source = load_npz_arrays(root / "CIFAR10" / f"cifar10_{split}.npz")
        streams = [encode(img, quality) for img in source["images"]]
        arrays[f"{split}_streams"] = np.frombuffer(b"".join(streams), dtype=np.uint8)
        arrays[f"{split}_offsets"] = np.concatenate([[0], np.cumsum([len(s) for s in streams])])
        arrays[f"{split}_labels"] = source["labels"]
        arrays["classes"] = source["classes"]
        report(split, quality, source["images"], np.stack([decode(s) for s in streams]))
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, quality=np.array(quality), **arrays)
    print(f"written {dest} ({dest.stat().st_size / 1e6:.1f} MB)")


def unpack(packed: Path, root: Path) -> None:
    """Decode a ``pack`` file into ``root/CIFAR10/cifar10_{train,test}.npz``."""
    dest = root / "CIFAR10"
    dest.mkdir(parents=True, exist_ok=True)
    with np.load(packed) as z:
        for split in ("train", "test"):
            streams, offsets = z[f"{split}_streams"].tobytes(), z[f"{split}_offsets"]
            images = np.stack([decode(streams[a:b]) for a, b in zip(offsets[:-1], offsets[1:])])
            np.savez(dest / f"cifar10_{split}.npz", images=images, labels=z[f"{split}_labels"], classes=z["classes"])
            print(f"{split}: {len(images)} images decoded")
    print(f"written to {dest}")


def damage(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(PSNR in dB, mean absolute error in 8-bit levels) of ``after`` against ``before``."""
    diff = after.astype(np.float64) - before
    return 10 * np.log10(255.0**2 / np.mean(diff**2)), float(np.mean(np.abs(diff)))


def report(split: str, quality: int, before: np.ndarray, after: np.ndarray) -> None:
    psnr, mae = damage(before, after)
    print(f"{split}: {len(after)} images, quality {quality}: PSNR {psnr:.1f} dB, "
          f"mean |error| {mae:.2f}/255 against the input copy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/data", help="folder holding CIFAR10/cifar10_{train,test}.npz")
    ap.add_argument("--quality", type=int, default=55)
    ap.add_argument("--out", help="a new data.root; CIFAR10/ is written inside it")
    ap.add_argument("--pack", metavar="FILE", help="write the JPEG streams to FILE instead of decoded images")
    ap.add_argument("--unpack", metavar="FILE", help="decode a --pack FILE into --out")
    args = ap.parse_args()
    if args.pack:
        return pack(Path(args.root), Path(args.pack), args.quality)
    if not args.out:
        ap.error("--out is required (unless --pack)")
    if args.unpack:
        return unpack(Path(args.unpack), Path(args.out))

    dest = Path(args.out) / "CIFAR10"
    dest.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        name = f"cifar10_{split}.npz"
        arrays = load_npz_arrays(Path(args.root) / "CIFAR10" / name)
        images = reencode(arrays["images"], args.quality)
        report(split, args.quality, arrays["images"], images)
        arrays["images"] = images
        np.savez(dest / name, **arrays)
    print(f"written to {dest}")


if __name__ == "__main__":
    main()
