"""Where oneDNN's products beat torch.mm (MKL) for the recurrent layers' time loop.

    python benchmarks/onednn_products.py --threads 1

For hidden sizes 32-512, batches 16-256 and 1 (RNN), 3 (GRU) or 4 (LSTM) gates, times the loop's
product ``other + h W^T`` (h: (B, H), W: (gates*H, H)) with ``torch.addmm`` and with
oneDNN's linear op on a weight reordered once into oneDNN's layout, which is what
``zoo.layers._recurrent_fast`` does for weights of at least 2^17 elements. Prints the ratio
oneDNN / torch.addmm; below 1 oneDNN is faster. Each case repeats for 0.3 s after warm-up.
"""

from __future__ import annotations

import argparse
import time

import torch


def _per_call_us(fn) -> float:
    for _ in range(30):
        fn()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        fn()
        calls += 1
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    linear = torch.ops.mkldnn._linear_pointwise
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads")
    print()
    print("| hidden | batch | gates | weight elements | torch.addmm us | oneDNN prepacked us | oneDNN / addmm |")
    print("|---|---|---|---|---|---|---|")
    for hidden in (32, 64, 128, 256, 512):
        for batch in (16, 64, 256):
            for gates in (1, 3, 4):
                w = torch.randn(gates * hidden, hidden)
                h, other = torch.randn(batch, hidden), torch.randn(batch, gates * hidden)
                packed = torch.ops.mkldnn._reorder_linear_weight(w, batch)
                mkl = _per_call_us(lambda: torch.addmm(other, h, w.t()))
                dnn = _per_call_us(lambda: linear.binary(h, other, packed, None, "add"))
                print(f"| {hidden} | {batch} | {gates} | {w.numel()} | {mkl:.1f} | {dnn:.1f} | {dnn / mkl:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
