"""Fused C kernels for the elementwise part of an LSTM (and GRU) step, compiled on first use.

Why: after its matrix product, a step of the fast LSTM path runs about fourteen small
elementwise torch kernels on (B, H) tensors. Each is below ATen's parallel grain size,
so they run one after another on one thread, and each re-reads its inputs from a cache
the product has just flushed; with two threads that is where the fast path lost to
torch.nn.LSTM (oneDNN fuses this work into its LSTM primitive). This kernel does the
whole step's elementwise work, backward factors included, in one pass per row, and a
second one the backward step's; a third does the GRU's forward step (reset after).

How: the C source below is compiled once per machine with the system C compiler
(``cc -O3 -march=native -shared -fPIC``, about a second, no torch headers) into a
per-user cache directory, under a name that hashes the source, the flags and the CPU,
and called through :mod:`ctypes` on float32 data pointers. Where torch runs on OpenMP
the build adds ``-fopenmp`` and a step's rows are shared among torch's own intra-op
threads (the library binds to the libgomp torch has loaded): one thread left the
second core idle through this part of every step, which is what kept the LSTM behind
torch.nn.LSTM with two threads. Without a compiler, when the
compile fails, or with ``ZOO_C_KERNELS=0`` in the environment, :func:`lstm_forward_step`
and :func:`lstm_backward_step` are not used and the fast path keeps its torch kernels: the same numbers up to rounding.
The exponential is a polynomial (relative error below 3e-9 before float32 rounding),
written so that the compiler vectorizes the loop.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["lstm_forward_step", "lstm_backward_step", "gru_forward_step", "available", "usable", "library_path"]

SOURCE = r"""
#include <stdint.h>
#include <string.h>

/* Rows are independent: with OpenMP (torch's own runtime, see _compile) they are
   shared among torch's intra-op threads, unless a step is too small to pay for the
   threads' wake-up (B and H: the kernel's arguments). Without OpenMP the pragma is
   ignored. */
#define ROWS_IN_PARALLEL _Pragma("omp parallel for schedule(static) if (B * H >= 8192)")

/* "GCC ivdep" before each loop over a row: no iteration depends on another (in the
   backward pass dg may be the factors a, read and written at the same index only),
   which lets the compiler vectorize without proving the pointers apart. */

/* e^x for |x| < 87: 2^n * 2^f, n = round(x log2 e), 2^f a degree-6 polynomial on [-1/2, 1/2]. */
static inline float exp_poly(float x) {
    x = x < -87.0f ? -87.0f : (x > 87.0f ? 87.0f : x);
    float t = x * 1.4426950408889634f;
    float n = (t + 12582912.0f) - 12582912.0f;  /* round to nearest: 1.5 * 2^23 (floorf stops vectorization) */
    float f = t - n;
    float p = 1.54697320861583e-4f;
    p = p * f + 1.3400432165719329e-3f;
    p = p * f + 9.618025602624583e-3f;
    p = p * f + 5.550327214208822e-2f;
    p = p * f + 2.4022651213597804e-1f;
    p = p * f + 6.931472067106199e-1f;
    p = p * f + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float sigm(float x) { return 1.0f / (1.0f + exp_poly(-x)); }

/* One LSTM step after its matrix product, for rows 0..B-1.
   pre + x (B, 4H each) gate pre-activations i, f, g, o (the recurrent product and the
         input projection, added here); the g part doubled (tanh(p) = 2 sigmoid(2p) - 1)
   c_prev(B, H)  the previous cell state
   w_ci, w_cf, w_co: peephole vectors (H) or NULL
   out: c (B, H), h (B, H); with keep, s (B, 4H) and r (B, 2H), the backward factors
   s = [g i(1-i), c_prev f(1-f), i (1-g^2), tanh(c) o(1-o)], r = [o (1-tanh^2 c), f].
   s may be x itself (each element is read before it is written). Row strides are in floats. */
void zoo_lstm_forward_step(
    int64_t B, int64_t H,
    const float *pre, int64_t ld_pre,
    const float *x, int64_t ld_x,
    const float *c_prev, int64_t ld_cp,
    const float *w_ci, const float *w_cf, const float *w_co,
    float *c_out, int64_t ld_c,
    float *h_out, int64_t ld_h,
    float *s, int64_t ld_s,
    float *r, int64_t ld_r,
    int keep)
{
    ROWS_IN_PARALLEL
    for (int64_t b = 0; b < B; ++b) {
        const float *restrict pi = pre + b * ld_pre, *restrict pf = pi + H, *restrict pg = pi + 2 * H,
                    *restrict po = pi + 3 * H;
        const float *xi = x + b * ld_x, *xf = xi + H, *xg = xi + 2 * H, *xo = xi + 3 * H;
        const float *restrict cp = c_prev + b * ld_cp;
        float *restrict c = c_out + b * ld_c, *restrict h = h_out + b * ld_h;
        if (keep) {
            float *si = s + b * ld_s, *sf = si + H, *sg = si + 2 * H, *so = si + 3 * H;
            float *restrict kap = r + b * ld_r, *restrict rf = kap + H;
            if (w_ci) {
                #pragma GCC ivdep
                for (int64_t j = 0; j < H; ++j) {
                    float i = sigm(pi[j] + xi[j] + w_ci[j] * cp[j]), f = sigm(pf[j] + xf[j] + w_cf[j] * cp[j]);
                    float g = 2.0f * sigm(pg[j] + xg[j]) - 1.0f;
                    float fc = f * cp[j], ig = i * g, cn = fc + ig;
                    float o = sigm(po[j] + xo[j] + w_co[j] * cn), tc = 2.0f * sigm(2.0f * cn) - 1.0f, hn = o * tc;
                    c[j] = cn; h[j] = hn;
                    kap[j] = o - hn * tc; rf[j] = f;
                    so[j] = hn - o * hn; sf[j] = fc - f * fc; sg[j] = i - ig * g; si[j] = ig - i * ig;
                }
            } else {
                #pragma GCC ivdep
                for (int64_t j = 0; j < H; ++j) {
                    float i = sigm(pi[j] + xi[j]), f = sigm(pf[j] + xf[j]), g = 2.0f * sigm(pg[j] + xg[j]) - 1.0f;
                    float fc = f * cp[j], ig = i * g, cn = fc + ig;
                    float o = sigm(po[j] + xo[j]), tc = 2.0f * sigm(2.0f * cn) - 1.0f, hn = o * tc;
                    c[j] = cn; h[j] = hn;
                    kap[j] = o - hn * tc; rf[j] = f;
                    so[j] = hn - o * hn; sf[j] = fc - f * fc; sg[j] = i - ig * g; si[j] = ig - i * ig;
                }
            }
        } else if (w_ci) {
            #pragma GCC ivdep
            for (int64_t j = 0; j < H; ++j) {
                float i = sigm(pi[j] + xi[j] + w_ci[j] * cp[j]), f = sigm(pf[j] + xf[j] + w_cf[j] * cp[j]);
                float cn = f * cp[j] + i * (2.0f * sigm(pg[j] + xg[j]) - 1.0f);
                float o = sigm(po[j] + xo[j] + w_co[j] * cn);
                c[j] = cn; h[j] = o * (2.0f * sigm(2.0f * cn) - 1.0f);
            }
        } else {
            #pragma GCC ivdep
            for (int64_t j = 0; j < H; ++j) {
                float i = sigm(pi[j] + xi[j]), f = sigm(pf[j] + xf[j]);
                float cn = f * cp[j] + i * (2.0f * sigm(pg[j] + xg[j]) - 1.0f);
                c[j] = cn; h[j] = sigm(po[j] + xo[j]) * (2.0f * sigm(2.0f * cn) - 1.0f);
            }
        }
    }
}

/* One backward step's elementwise part: from dL/dh_t (dh + dh2: through the next step and
   from the output, added here) and dL/dc_t arriving from step t+1
   (dc_next), with the forward factors a = s (B, 4H), kap and f (r's halves), the gate
   gradients dg (B, 4H; may be s itself) and dL/dc_{t-1} (dc_prev). */
void zoo_lstm_backward_step(
    int64_t B, int64_t H,
    const float *dh, int64_t ld_dh,
    const float *dh2, int64_t ld_dh2,
    const float *dc_next, int64_t ld_dcn,
    const float *a, int64_t ld_a,
    const float *r, int64_t ld_r,
    const float *w_ci, const float *w_cf, const float *w_co,
    float *dg, int64_t ld_dg,
    float *dc_prev, int64_t ld_dcp)
{
    ROWS_IN_PARALLEL
    for (int64_t b = 0; b < B; ++b) {
        const float *ai = a + b * ld_a, *af = ai + H, *ag = ai + 2 * H, *ao = ai + 3 * H;
        const float *kap = r + b * ld_r, *f = kap + H;
        const float *dhb = dh + b * ld_dh, *dhc = dh2 + b * ld_dh2, *dcn = dc_next + b * ld_dcn;
        float *gi = dg + b * ld_dg, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        float *dcp = dc_prev + b * ld_dcp;
        if (w_ci) {
            #pragma GCC ivdep
            for (int64_t j = 0; j < H; ++j) {
                float dhj = dhb[j] + dhc[j], dgo = dhj * ao[j];
                float dc = dcn[j] + dhj * kap[j] + dgo * w_co[j];
                float dgi = dc * ai[j], dgf = dc * af[j], dgg = dc * ag[j], fj = f[j];
                gi[j] = dgi; gf[j] = dgf; gg[j] = dgg; go[j] = dgo;
                dcp[j] = dc * fj + dgi * w_ci[j] + dgf * w_cf[j];
            }
        } else {
            #pragma GCC ivdep
            for (int64_t j = 0; j < H; ++j) {
                float dhj = dhb[j] + dhc[j], dgo = dhj * ao[j];
                float dc = dcn[j] + dhj * kap[j];
                float dgi = dc * ai[j], dgf = dc * af[j], dgg = dc * ag[j], fj = f[j];
                gi[j] = dgi; gf[j] = dgf; gg[j] = dgg; go[j] = dgo;
                dcp[j] = dc * fj;
            }
        }
    }
}

/* One GRU step (reset after the product) after its matrix product, for rows 0..B-1.
   g  (B, 3H) the input projection r, z, n (n doubled); overwritten with r, z and n
   gh (B, 3H) h_{t-1} W_hh^T + b_hh (n part doubled); hp (B, H) h_{t-1}; out (B, H) h_t.
   With keep, s (B, 3H) = [r(1-r) gh_n, (h_{t-1} - n) z(1-z), (1-z)(1-n^2)]. */
void zoo_gru_forward_step(
    int64_t B, int64_t H,
    float *g, int64_t ld_g,
    const float *gh, int64_t ld_gh,
    const float *hp, int64_t ld_hp,
    float *out, int64_t ld_o,
    float *s, int64_t ld_s,
    int keep)
{
    ROWS_IN_PARALLEL
    for (int64_t b = 0; b < B; ++b) {
        float *gr = g + b * ld_g, *gz = gr + H, *gn = gr + 2 * H;
        const float *hr = gh + b * ld_gh, *hz = hr + H, *hn = hr + 2 * H, *h0 = hp + b * ld_hp;
        float *o = out + b * ld_o;
        if (keep) {
            float *sr = s + b * ld_s, *sz = sr + H, *sp = sr + 2 * H;
            #pragma GCC ivdep
            for (int64_t j = 0; j < H; ++j) {
                float r = sigm(gr[j] + hr[j]), z = sigm(gz[j] + hz[j]);
                float n = 2.0f * sigm(gn[j] + r * hn[j]) - 1.0f, d = h0[j] - n, p = 1.0f - n * n;
                gr[j] = r; gz[j] = z; gn[j] = n; o[j] = n + z * d;
                sr[j] = (r - r * r) * hn[j]; sz[j] = d * (z - z * z); sp[j] = p - p * z;
            }
        } else {
            #pragma GCC ivdep
            for (int64_t j = 0; j < H; ++j) {
                float r = sigm(gr[j] + hr[j]), z = sigm(gz[j] + hz[j]);
                float n = 2.0f * sigm(gn[j] + r * hn[j]) - 1.0f;
                gr[j] = r; gz[j] = z; gn[j] = n; o[j] = n + z * (h0[j] - n);
            }
        }
    }
}
"""


def _torch_uses_openmp() -> bool:
    return "OpenMP" in torch.__config__.parallel_info()


# -fopenmp where torch's CPU ops run on OpenMP: the library then needs libgomp.so.1, and
# the dynamic loader hands it the one torch has loaded (the same soname), so a step's
# rows go to torch's own intra-op threads, not to a second pool competing for the cores.
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC", "-std=c99"]
if _torch_uses_openmp():
    FLAGS.append("-fopenmp")
_ENV = "ZOO_C_KERNELS"
_lib: ctypes.CDLL | None = None
_tried = False


def _cpu_id() -> str:
    # -march=native code must not run on another CPU sharing the home directory.
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _cache_dir() -> Path:
    # Beside the downloaded weights: $ZOO_HOME, else ~/.cache/zoo (zoo.pretrained.zoo_home).
    home = os.environ.get("ZOO_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "zoo")
    return Path(home).expanduser() / "kernels"


def library_path(flags: list[str] = FLAGS) -> Path:
    """Where the compiled kernel for this source, these flags and this CPU lives."""
    key = hashlib.sha256("\0".join([SOURCE, *flags, platform.machine(), _cpu_id()]).encode()).hexdigest()[:16]
    return _cache_dir() / f"lstm_step-{key}.so"


def _compile(path: Path, flags: list[str]) -> bool:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src, out = Path(tmp) / "lstm_step.c", Path(tmp) / "lstm_step.so"
        src.write_text(SOURCE)
        done = subprocess.run([compiler, *flags, str(src), "-o", str(out)], capture_output=True, timeout=120)
        if done.returncode != 0 or not out.is_file():
            return False
        os.replace(out, path)  # atomic: a concurrent process sees the whole file or none
    return True


def _load() -> ctypes.CDLL | None:
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get(_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        # A compiler without OpenMP support still builds the one-thread kernel.
        for flags in (FLAGS, [f for f in FLAGS if f != "-fopenmp"]):
            path = library_path(flags)
            if path.is_file() or _compile(path, flags):
                break
        else:
            return None
        lib = ctypes.CDLL(str(path))
        fn = lib.zoo_lstm_forward_step
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        fn.argtypes = [i64, i64, ptr, i64, ptr, i64, ptr, i64, ptr, ptr, ptr, ptr, i64, ptr, i64, ptr, i64, ptr, i64, ctypes.c_int]
        fn.restype = None
        back = lib.zoo_lstm_backward_step
        back.argtypes = [i64, i64, ptr, i64, ptr, i64, ptr, i64, ptr, i64, ptr, i64, ptr, ptr, ptr, ptr, i64, ptr, i64]
        back.restype = None
        gru = lib.zoo_gru_forward_step
        gru.argtypes = [i64, i64, ptr, i64, ptr, i64, ptr, i64, ptr, i64, ptr, i64, ctypes.c_int]
        gru.restype = None
        _lib = lib
    except Exception:  # noqa: BLE001 - any failure means: keep the torch kernels
        _lib = None
    return _lib


def available() -> bool:
    """Whether the compiled kernel is in use (compiling it on the first call)."""
    return _load() is not None


def _rows(t: Tensor | None) -> tuple[int | None, int]:
    if t is None:
        return None, 0
    return t.data_ptr(), t.stride(0)


def lstm_forward_step(
    pre: Tensor,
    x: Tensor,
    c_prev: Tensor,
    peepholes: tuple[Tensor, Tensor, Tensor] | None,
    c: Tensor,
    h: Tensor,
    s: Tensor | None,
    r: Tensor | None,
) -> None:
    """The elementwise part of one forward step (see the C source) on the gates
    ``pre + x``, into ``c``, ``h`` and, when given, the backward factors ``s`` (B, 4H;
    may be ``x``) and ``r`` (B, 2H). Every tensor is float32 on the CPU with unit stride
    along its last dimension."""
    lib = _load()
    assert lib is not None
    batch, hidden = c.shape
    w_ci = w_cf = w_co = None
    if peepholes is not None:
        w_ci, w_cf, w_co = (w.data_ptr() for w in peepholes)
    lib.zoo_lstm_forward_step(
        batch, hidden, *_rows(pre), *_rows(x), *_rows(c_prev), w_ci, w_cf, w_co, *_rows(c), *_rows(h), *_rows(s), *_rows(r),
        int(s is not None),
    )


def lstm_backward_step(
    dh: Tensor,
    dh2: Tensor,
    dc_next: Tensor,
    s: Tensor,
    r: Tensor,
    peepholes: tuple[Tensor, Tensor, Tensor] | None,
    dg: Tensor,
    dc_prev: Tensor,
) -> None:
    """The elementwise part of one backward step (see the C source), dL/dh_t arriving as
    ``dh + dh2``: the gate gradients into ``dg`` (which may be ``s``) and dL/dc_{t-1}
    into ``dc_prev``."""
    lib = _load()
    assert lib is not None
    batch, hidden = dc_prev.shape
    w_ci = w_cf = w_co = None
    if peepholes is not None:
        w_ci, w_cf, w_co = (w.data_ptr() for w in peepholes)
    lib.zoo_lstm_backward_step(
        batch, hidden, *_rows(dh), *_rows(dh2), *_rows(dc_next), *_rows(s), *_rows(r), w_ci, w_cf, w_co, *_rows(dg), *_rows(dc_prev)
    )


def gru_forward_step(g: Tensor, gh: Tensor, h_prev: Tensor, out: Tensor, s: Tensor | None) -> None:
    """The elementwise part of one GRU step (reset after the product; see the C source)."""
    lib = _load()
    assert lib is not None
    batch, hidden = out.shape
    lib.zoo_gru_forward_step(batch, hidden, *_rows(g), *_rows(gh), *_rows(h_prev), *_rows(out), *_rows(s),
                             int(s is not None))


def usable(*tensors: Tensor) -> bool:
    """float32 CPU tensors with unit stride along the last dimension, and the kernel built."""
    for t in tensors:
        if t.dtype != torch.float32 or t.device.type != "cpu" or (t.dim() == 2 and t.stride(1) != 1):
            return False
    return available()
