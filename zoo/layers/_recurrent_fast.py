"""The fast path of zoo.layers.recurrent: the same layers, with back-propagation
through time written out by hand.

:mod:`zoo.layers.recurrent` is the readable definition: each step is its equations
under ordinary autograd. This module computes the same function faster; the stack
(:class:`~zoo.layers.recurrent.RNN`, ``GRU``, ``PeepholeLSTM``) calls :func:`layer`
for each layer and direction when :func:`usable` says so (``fused=True``, eager
mode, no autocast, no projection), and the parity tests hold the two paths equal.

* One :class:`torch.autograd.Function` per layer and direction. Its forward pass
  makes the input projection of all steps one matrix product, then runs the time loop
  with in-place kernels and no graph, keeping per step the factors its backward pass
  needs (computed while the step's gates are still in cache). Its backward pass writes
  each step's gate gradients into one ``(T*B, gates)`` buffer (over the factors, unless
  the graph is retained), so ``dL/dW_hh``, ``dL/dW_ih`` and ``dL/dx`` are each a single
  matrix product after the loop, and a step costs one matrix product and a few small
  elementwise kernels instead of the dozens of graph nodes of a step-by-step autograd
  loop.
* Large float32 CPU products run in oneDNN, with the recurrent weight reordered once
  per call (see "Matrix products").
* ``tanh`` is evaluated as ``2*sigmoid(2x) - 1`` because torch's CPU ``tanh`` kernel
  costs about five ``sigmoid`` kernels here; the factor 2 is folded into copies of the
  weights (exact in floating point), and the error is a few units in the last place.
* The backward is not differentiable again: ``create_graph=True`` through it raises
  an error pointing to ``fused=False`` (the readable path), as do ``torch.func``
  transforms in effect.

Packed and padded batches share one code path: a padded ``(T, B, F)`` batch is a
packed one whose ``batch_sizes`` are all ``B``. In a packed batch (sorted by length)
step ``t`` updates only the first ``batch_sizes[t]`` rows, so padding never touches
the result and each sequence's final state is the one after its own last step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from . import _lstm_kernel

__all__ = ["usable", "layer"]


def usable(x: Tensor) -> bool:
    """Whether the fast path may run on input ``x`` here: not while torch.jit traces,
    torch.compile or torch.export capture (they record ordinary operations, not a custom
    autograd Function), not under autocast (whose casts happen per operation)."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return False
    return x.numel() > 0 and not torch.is_autocast_enabled(x.device.type)


def layer(
    mode: str,
    x: Tensor,
    weights: Sequence[Tensor | None],
    h0: Tensor,
    c0: Tensor | None,
    batch_sizes: list[int],
    reverse: bool,
    nonlinearity: str,
    reset_after: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction of one layer, as :func:`zoo.layers.recurrent.recurrent_layer` (with
    ``weights`` in its order): ``(output (N, H), h_n, c_n or None)``."""
    w_ih, w_hh, b_ih, b_hh, w_ci, w_cf, w_co, _ = weights
    steps = _Steps(batch_sizes, reverse)
    grad = torch.is_grad_enabled()  # Function.apply reports needs_input_grad even under no_grad
    if mode == "LSTM":
        return _LSTMLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, c0, w_ci, w_cf, w_co, steps, grad)
    if mode == "GRU":
        out, h_n = _GRULayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, steps, reset_after, grad)
    else:
        out, h_n = _RNNLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, steps, nonlinearity == "relu")
    return out, h_n, None


# =====================================================================================
# Time-step bookkeeping
# =====================================================================================
class _Steps:
    """The time steps of one direction over a packed batch, in the order they run.

    Rows of step ``t`` are ``data[offset_t : offset_t + batch_sizes[t]]``
    (PackedSequence layout, sequences sorted by decreasing length).
    """

    __slots__ = ("sizes", "offsets", "reverse", "uniform", "batch", "length")

    def __init__(self, batch_sizes: Sequence[int], reverse: bool) -> None:
        offsets, total = [], 0
        for size in batch_sizes:
            offsets.append(total)
            total += size
        order = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
        self.sizes = [batch_sizes[t] for t in order]
        self.offsets = [offsets[t] for t in order]
        self.reverse = reverse
        self.uniform = min(batch_sizes) == max(batch_sizes)
        self.batch = max(batch_sizes)
        self.length = len(batch_sizes)

    def split(self, buf: Tensor) -> list[Tensor]:
        """Per-step row blocks of a ``(N, ...)`` buffer, in running order (views)."""
        if self.uniform:
            views = list(buf.unflatten(0, (self.length, self.batch)).unbind(0))
            return views[::-1] if self.reverse else views
        return [buf[o : o + b] for o, b in zip(self.offsets, self.sizes)]

    def storage_order(self, per_step: list[Tensor]) -> list[Tensor]:
        return per_step[::-1] if self.reverse else per_step


def _prev(steps: _Steps, k: int, outs: Sequence[Tensor], init: Tensor) -> Tensor:
    """State entering step ``k``: the previous step's output rows, topped up from ``init``
    for sequences that start here (reverse direction of a packed batch)."""
    b = steps.sizes[k]
    if k == 0:
        return init if b == init.shape[0] else init[:b]
    pb = steps.sizes[k - 1]
    if b == pb:
        return outs[k - 1]
    if b < pb:
        return outs[k - 1][:b]
    return torch.cat((outs[k - 1], init[pb:b]))


def _last(steps: _Steps, outs: Sequence[Tensor]) -> Tensor:
    """Each sequence's state after its own last step, rows in batch order (a new tensor)."""
    pieces = [outs[-1]]
    for k in range(len(outs) - 1, 0, -1):
        b, pb = steps.sizes[k], steps.sizes[k - 1]
        if b < pb:  # rows b..pb ended at step k-1
            pieces.append(outs[k - 1][b:pb])
    return torch.cat(pieces)


def _route(b: int, pb: int, d_prev: Tensor, d_last: Tensor, d_init: Tensor) -> Tensor:
    """Backward of :func:`_prev`/:func:`_last` between steps ``k`` (``b`` rows) and ``k-1``
    (``pb`` rows) when the sizes differ: returns the gradient reaching step ``k-1``'s
    output, writes what reaches the initial state into ``d_init``."""
    if b < pb:  # rows b..pb of step k-1 are final states
        return torch.cat((d_prev, d_last[b:pb]))
    d_init[pb:b] = d_prev[pb:]
    return d_prev[:pb]


def _prevs_cat(steps: _Steps, outs: Sequence[Tensor], init: Tensor) -> Tensor:
    """Every step's incoming state stacked in storage order: ``(N, H)``."""
    prevs = [_prev(steps, k, outs, init) for k in range(len(outs))]
    return torch.cat(steps.storage_order(prevs))


# =====================================================================================
# Matrix products
# =====================================================================================
# On CPUs with oneDNN, torch.nn.LSTM runs oneDNN's fused LSTM primitive, while torch.mm
# goes to MKL. For large products oneDNN's own kernels are the faster of the two here
# (10-30% on the AMD EPYC of benchmarks/README.md), and a recurrent weight reordered
# once per call into oneDNN's blocked layout saves the repacking each of the loop's
# products would otherwise do once the weight no longer fits in the core's L2 cache.
# A oneDNN call costs about 15 us more than torch.mm, though, so small products stay
# with torch.mm, as does everything else (other dtypes and devices, builds without
# oneDNN, torch.backends.mkldnn disabled). The two differ only in rounding.
# On Intel CPUs MKL's own products are the faster ones: on the Intel Xeon (AVX-512)
# measured for issue 17, one LSTM layer's forward+backward took 1.03-1.08x torch.nn's
# time with every product in MKL against 1.19-1.29x through oneDNN (two threads).
# There oneDNN is not used at all.
_PACK_MIN_WEIGHT = 1 << 17  # elements of a recurrent weight worth reordering (512 KB in float32)
_ONEDNN_MIN_MACS = 1 << 24  # multiply-adds of a one-off product worth a oneDNN call


def _probe_onednn() -> bool:
    try:
        w = torch.ops.mkldnn._reorder_linear_weight(torch.ones(2, 2), 1)
        y = torch.ops.mkldnn._linear_pointwise.binary(torch.ones(1, 2), torch.ones(1, 2), w, None, "add")
        return bool(y.eq(3).all())
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def _intel_cpu() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("vendor_id") and "GenuineIntel" in line for line in f)
    except OSError:
        return False


_ONEDNN_OPS = _probe_onednn()  # this torch build has oneDNN's linear ops
_ONEDNN = _ONEDNN_OPS and not _intel_cpu()  # and they are used


def _use_onednn(x: Tensor) -> bool:
    return _ONEDNN and x.device.type == "cpu" and x.dtype == torch.float32 and torch._C._get_mkldnn_enabled()


def _pack(w: Tensor, batch: int, dnn: bool) -> Tensor:
    """``w`` (out, in) ready for the loop's repeated products ``x w^T``: in oneDNN's
    layout when that pays, else as it is."""
    if dnn and w.numel() >= _PACK_MIN_WEIGHT:
        return torch.ops.mkldnn._reorder_linear_weight(w, batch)
    return w


def _linear(x: Tensor, w: Tensor, b: Tensor | None, dnn: bool) -> Tensor:
    """``x w^T + b`` (a new tensor); ``w`` as :func:`_pack` left it."""
    if w.is_mkldnn or (dnn and x.shape[0] * w.numel() >= _ONEDNN_MIN_MACS):
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    return torch.mm(x, w.t()) if b is None else torch.addmm(b, x, w.t())


def _linear_add(x: Tensor, w: Tensor, other: Tensor) -> Tensor:
    """``other + x w^T`` (a new tensor); ``w`` as :func:`_pack` left it."""
    if w.is_mkldnn:
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, w, None, "add")
    return torch.addmm(other, x, w.t())


def _weight_grad(d: Tensor, a: Tensor, dnn: bool) -> Tensor:
    """``d^T a``: the gradient of ``W`` in ``a W^T``, summed over rows."""
    if dnn and d.numel() * a.shape[1] >= _ONEDNN_MIN_MACS:
        # computed transposed: faster in oneDNN with the long dimension inside
        return torch.ops.mkldnn._linear_pointwise(a.t(), d.t(), None, "none", [], "").t()
    return d.t() @ a


def _with_prevs(steps: _Steps, rows: Tensor, out: Tensor, init: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``(rows, incoming states)`` pairs covering the ``(N, ...)`` buffer ``rows``, whose
    incoming states are those of ``out``'s steps, the largest part first. For a padded
    batch they are ``out`` shifted by one step and ``init``: views, no copy."""
    if not steps.uniform:
        return [(rows, _prevs_cat(steps, steps.split(out), init))]
    b = steps.batch
    if steps.length == 1:
        return [(rows, init)]
    # Step t's incoming state is step t-1's output (t+1's in reverse); the first step's is init.
    if steps.reverse:
        return [(rows[:-b], out[b:]), (rows[-b:], init)]
    return [(rows[b:], out[:-b]), (rows[:b], init)]


def _grad_w_hh(steps: _Steps, d_pre: Tensor, out: Tensor, init: Tensor, dnn: bool) -> Tensor:
    """``sum_t d_pre_t^T h_{t-1}``: one matrix product over all steps (two for a padded batch)."""
    (d, prev), *rest = _with_prevs(steps, d_pre, out, init)
    d_w = _weight_grad(d, prev, dnn)
    for d, prev in rest:
        d_w.addmm_(d.t(), prev)
    return d_w


def _into_init(steps: _Steps, d_prev: Tensor, d_init: Tensor) -> Tensor:
    if steps.sizes[0] == d_init.shape[0]:
        return d_prev
    d_init[: steps.sizes[0]] = d_prev
    return d_init


# =====================================================================================
# Fused layers: hand-written BPTT
# =====================================================================================
def _refuse_double_backward() -> None:
    # Grad mode is on inside backward exactly when the caller asked for create_graph=True.
    # The hand-written backward is not itself differentiable, and part of the second
    # derivative would silently be missing, so refuse instead.
    if torch.is_grad_enabled():
        raise RuntimeError(
            "the fused recurrent backward cannot build a graph (create_graph=True / double "
            "backward); construct the layer with fused=False for higher-order gradients"
        )


def _graph_freed() -> bool:
    """Whether the running backward pass frees the graph (``retain_graph=False``), so
    buffers saved for it may be overwritten."""
    keep_graph = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return keep_graph is not None and not keep_graph()


def _double_rows(t: Tensor, lo: int, hi: int) -> Tensor:
    """A copy of ``t`` with rows ``lo:hi`` doubled (exact): the pre-activation of a tanh
    evaluated as ``2 sigmoid(2p) - 1``."""
    t2 = t.clone()
    t2[lo:hi] *= 2
    return t2


def _input_grads(
    ctx, d_pre: Tensor, x: Tensor, w_ih: Tensor, dnn: bool
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of the input projection ``x W_ih^T + b``: one matrix product each."""
    need_x, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[3]
    d_x = _linear(d_pre, w_ih.t(), None, dnn) if need_x else None
    d_w = _weight_grad(d_pre, x, dnn) if need_w else None
    d_b = _column_sums(d_pre) if need_b or ctx.needs_input_grad[4] else None
    return d_x, d_w, d_b


def _column_sums(t: Tensor) -> Tensor:
    # A matrix-vector product: on CPU about twice as fast as t.sum(0) for these shapes.
    return torch.mv(t.t(), t.new_ones(t.shape[0]))


class _RNNLayer(torch.autograd.Function):
    """Elman layer: ``(x (N, F), w_ih, w_hh, b_ih, b_hh, h0 (B, H)) -> (out (N, H), h_n)``."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, steps: _Steps, relu: bool):  # type: ignore[override]
        dnn = _use_onednn(x)
        if relu:
            w_x, w_h = w_ih, w_hh
            b = None if b_ih is None else b_ih + b_hh
        else:  # tanh(p) = 2 sigmoid(2p) - 1; doubling the weights is exact
            w_x, w_h = w_ih * 2, w_hh * 2
            b = None if b_ih is None else (b_ih + b_hh) * 2
        out = _linear(x, w_x, b, dnn)
        w_rec = _pack(w_h, steps.batch, dnn)
        o = steps.split(out)
        minus_one = x.new_full((), -1.0)
        uniform = steps.uniform
        for k in range(len(o)):
            h_prev = o[k - 1] if k and uniform else _prev(steps, k, o, h0)
            pre = _linear_add(h_prev, w_rec, o[k])
            if relu:
                torch.clamp_min(pre, 0, out=o[k])
            else:
                torch.add(minus_one, torch.sigmoid(pre, out=o[k]), alpha=2, out=o[k])
        ctx.save_for_backward(x, w_ih, w_hh, h0, out)
        ctx.steps, ctx.relu = steps, relu
        return out, _last(steps, o)

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hn: Tensor):  # type: ignore[override]
        _refuse_double_backward()
        x, w_ih, w_hh, h0, out = ctx.saved_tensors
        steps: _Steps = ctx.steps
        dnn = _use_onednn(x)
        # Derivative of the activation, in terms of its output, for all steps at once;
        # each step's pre-activation gradient then overwrites it.
        d_pre = (out > 0).to(out.dtype) if ctx.relu else torch.addcmul(out.new_ones(()), out, out, value=-1)
        dp, do = steps.split(d_pre), steps.split(d_out)
        w_rec = _pack(w_hh.t(), steps.batch, dnn)
        d_h0 = torch.zeros_like(h0)
        K = len(dp)
        dh = do[K - 1] + d_hn[: steps.sizes[K - 1]]
        for k in range(K - 1, -1, -1):
            dp[k].mul_(dh)
            if k == 0:
                d_h0 = _into_init(steps, _linear(dp[0], w_rec, None, dnn), d_h0)
            elif steps.sizes[k] == steps.sizes[k - 1]:
                dh = _linear_add(dp[k], w_rec, do[k - 1])
            else:
                d_prev = _linear(dp[k], w_rec, None, dnn)
                dh = do[k - 1] + _route(steps.sizes[k], steps.sizes[k - 1], d_prev, d_hn, d_h0)
        d_x, d_wih, d_b = _input_grads(ctx, d_pre, x, w_ih, dnn)
        d_whh = _grad_w_hh(steps, d_pre, out, h0, dnn) if ctx.needs_input_grad[2] else None
        return d_x, d_wih, d_whh, d_b, d_b, d_h0, None, None


class _GRULayer(torch.autograd.Function):
    """GRU layer: ``(x, w_ih, w_hh, b_ih, b_hh, h0) -> (out, h_n)``.

    With ``keep`` (gradients wanted) the forward pass also stores, per row,
    ``s = [a_r, (h_{t-1} - n) z(1-z), (1-z)(1-n^2)]`` with ``a_r = 2 (h W_hn^T + b_hn) r(1-r)``
    (reset after) or ``h_{t-1} r(1-r)`` (reset before), in the gate order r, z, n, so that
    the backward pass can overwrite them with the gate gradients.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x, w_ih, w_hh, b_ih, b_hh, h0, steps: _Steps, reset_after: bool, grad: bool
    ):
        N = x.shape[0]
        H = w_hh.shape[1]
        keep = grad and any(ctx.needs_input_grad)
        bias = b_ih is not None
        dnn = _use_onednn(x)
        sp = steps.split
        w_x = _double_rows(w_ih, 2 * H, 3 * H)  # candidate rows doubled: tanh via sigmoid
        if reset_after:
            b_x = _double_rows(b_ih, 2 * H, 3 * H) if bias else None
            b_h = _double_rows(b_hh, 2 * H, 3 * H) if bias else None
            w_rec = _pack(_double_rows(w_hh, 2 * H, 3 * H), steps.batch, dnn)
        else:
            b_x = _double_rows(b_ih + b_hh, 2 * H, 3 * H) if bias else None
            w_rz, w_n = _pack(w_hh[: 2 * H], steps.batch, dnn), _pack(w_hh[2 * H :] * 2, steps.batch, dnn)
            rh = x.new_empty(N, H)  # r * h_{t-1}, the input of W_hn
            rh_k = sp(rh)
        g = _linear(x, w_x, b_x, dnn)
        g_rz, g_r, g_z, g_n = sp(g[:, : 2 * H]), sp(g[:, :H]), sp(g[:, H : 2 * H]), sp(g[:, 2 * H :])
        out = x.new_empty(N, H)
        o = sp(out)
        if keep:
            s = x.new_empty(N, 3 * H)
            s_ar, s_az, s_p = sp(s[:, :H]), sp(s[:, H : 2 * H]), sp(s[:, 2 * H :])
            zz = x.new_empty(steps.batch, H)
            one = x.new_ones(())
        minus_one = x.new_full((), -1.0)
        uniform = steps.uniform
        # The step's elementwise work in one compiled C pass where it can (see _lstm_kernel).
        ckernel = reset_after and _lstm_kernel.usable(x, h0)
        if ckernel:
            g_k, s_k = sp(g), (sp(s) if keep else None)
        for k in range(len(o)):
            h_prev = o[k - 1] if k and uniform else _prev(steps, k, o, h0)
            r, z = g_r[k], g_z[k]
            if reset_after:
                gh = _linear(h_prev, w_rec, b_h, dnn)  # h W_hh^T + b_hh, candidate part doubled
                if ckernel and gh.stride(1) == 1 and h_prev.stride(1) == 1:
                    _lstm_kernel.gru_forward_step(g_k[k], gh, h_prev, o[k], s_k[k] if keep else None)
                    continue
                gh_n = gh[:, 2 * H :]
                g_rz[k].add_(gh[:, : 2 * H]).sigmoid_()
                n = g_n[k].addcmul_(r, gh_n).sigmoid_()
            else:
                g_rz[k].add_(_linear(h_prev, w_rz, None, dnn)).sigmoid_()
                n = g_n[k].add_(_linear(torch.mul(r, h_prev, out=rh_k[k]), w_n, None, dnn)).sigmoid_()
            torch.add(minus_one, n, alpha=2, out=n)
            if keep:
                diff = torch.sub(h_prev, n, out=s_az[k])
                torch.addcmul(n, z, diff, out=o[k])  # (1 - z) n + z h_{t-1}
                zk = torch.addcmul(z, z, z, value=-1, out=zz[: z.shape[0]])
                diff.mul_(zk)
                p = torch.addcmul(one, n, n, value=-1, out=s_p[k])
                p.addcmul_(p, z, value=-1)
                torch.addcmul(r, r, r, value=-1, out=s_ar[k]).mul_(gh_n if reset_after else h_prev)
            else:
                torch.sub(h_prev, n, out=o[k]).mul_(z).add_(n)
        ctx.save_for_backward(x, w_ih, w_hh, h0, out)
        if keep:
            ctx.g, ctx.s, ctx.steps, ctx.reset_after, ctx.bias = g, s, steps, reset_after, bias
            if not reset_after:
                ctx.rh = rh
        return out, _last(steps, o)

    @staticmethod
    def backward(ctx, d_out, d_hn):  # type: ignore[override]
        _refuse_double_backward()
        x, w_ih, w_hh, h0, out = ctx.saved_tensors
        steps: _Steps = ctx.steps
        g, s = ctx.g, ctx.s
        H = w_hh.shape[1]
        dnn = _use_onednn(x)
        sp = steps.split
        r_k, z_k = sp(g[:, :H]), sp(g[:, H : 2 * H])
        ar_k, az_k, p_k = sp(s[:, :H]), sp(s[:, H : 2 * H]), sp(s[:, 2 * H :])
        # Gate gradients overwrite what they are made from (s, and g's candidate part,
        # which the backward pass does not read), unless the graph is kept.
        freed = _graph_freed()
        reuse = (lambda t: t) if freed else torch.empty_like
        d_gx = reuse(s if not ctx.reset_after else g)  # gradient of the input projection
        dgx_n = sp(d_gx[:, 2 * H :])
        do = sp(d_out)
        d_h0 = torch.zeros_like(h0)
        K = len(do)
        dh = do[K - 1] + d_hn[: steps.sizes[K - 1]]
        if ctx.reset_after:
            zero = g.new_zeros(())
            w_rec = _pack(w_hh.t(), steps.batch, dnn)
            d_gh = reuse(s)  # gradient of h W_hh^T + b_hh
            dgh_k, dgh_r, dgh_z, dgh_n = sp(d_gh), sp(d_gh[:, :H]), sp(d_gh[:, H : 2 * H]), sp(d_gh[:, 2 * H :])
            for k in range(K - 1, -1, -1):
                dn = torch.mul(dh, p_k[k], out=dgx_n[k])
                torch.addcmul(zero, dn, ar_k[k], value=0.5, out=dgh_r[k])  # a_r holds 2 (h W_hn^T + b_hn)
                torch.mul(dh, az_k[k], out=dgh_z[k])
                torch.mul(dn, r_k[k], out=dgh_n[k])
                if k and steps.sizes[k] == steps.sizes[k - 1]:
                    dh = _linear_add(dgh_k[k], w_rec, torch.addcmul(do[k - 1], dh, z_k[k]))
                    continue
                d_prev = _linear(dgh_k[k], w_rec, None, dnn).addcmul_(dh, z_k[k])
                if k == 0:
                    d_h0 = _into_init(steps, d_prev, d_h0)
                else:
                    dh = do[k - 1] + _route(steps.sizes[k], steps.sizes[k - 1], d_prev, d_hn, d_h0)
            d_gx[:, : 2 * H] = d_gh[:, : 2 * H]
            d_whh = _grad_w_hh(steps, d_gh, out, h0, dnn) if ctx.needs_input_grad[2] else None
            d_bhh = _column_sums(d_gh) if ctx.bias else None
            d_x, d_wih, d_bih = _input_grads(ctx, d_gx, x, w_ih, dnn)
        else:
            w_rz, w_n = _pack(w_hh[: 2 * H].t(), steps.batch, dnn), _pack(w_hh[2 * H :].t(), steps.batch, dnn)
            dgx_rz, dgx_r, dgx_z = sp(d_gx[:, : 2 * H]), sp(d_gx[:, :H]), sp(d_gx[:, H : 2 * H])
            for k in range(K - 1, -1, -1):
                dn = torch.mul(dh, p_k[k], out=dgx_n[k])
                d_rh = _linear(dn, w_n, None, dnn)
                torch.mul(d_rh, ar_k[k], out=dgx_r[k])
                torch.mul(dh, az_k[k], out=dgx_z[k])
                if k and steps.sizes[k] == steps.sizes[k - 1]:
                    dh = _linear_add(dgx_rz[k], w_rz, torch.addcmul(do[k - 1], dh, z_k[k]).addcmul_(d_rh, r_k[k]))
                    continue
                d_prev = _linear(dgx_rz[k], w_rz, None, dnn).addcmul_(dh, z_k[k]).addcmul_(d_rh, r_k[k])
                if k == 0:
                    d_h0 = _into_init(steps, d_prev, d_h0)
                else:
                    dh = do[k - 1] + _route(steps.sizes[k], steps.sizes[k - 1], d_prev, d_hn, d_h0)
            d_whh = None
            if ctx.needs_input_grad[2]:
                d_whh = torch.cat(
                    (_grad_w_hh(steps, d_gx[:, : 2 * H], out, h0, dnn), _weight_grad(d_gx[:, 2 * H :], ctx.rh, dnn))
                )
            d_x, d_wih, d_bih = _input_grads(ctx, d_gx, x, w_ih, dnn)
            d_bhh = d_bih
        return d_x, d_wih, d_whh, d_bih, d_bhh, d_h0, None, None, None


class _LSTMLayer(torch.autograd.Function):
    """(Peephole) LSTM layer: ``(x, w_ih, w_hh, b_ih, b_hh, h0, c0, w_ci, w_cf, w_co) ->
    (out, h_n, c_n)``; the peephole vectors are ``None`` for a plain LSTM.

    With ``keep`` (gradients wanted) the forward pass also stores, per row, what the
    backward pass multiplies by, computed while the step's gates are still in cache
    (re-reading them from memory after the loop costs more than the arithmetic). They
    overwrite the step's gates ``[i, f, g, o]`` once those are used:
    ``s = [g i(1-i), c_{t-1} f(1-f), i (1-g^2), tanh(c_t) o(1-o)]``; beside them go
    ``r = [o (1-tanh^2 c_t), f]``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0, w_ci, w_cf, w_co, steps: _Steps, grad: bool
    ):
        N = x.shape[0]
        H = w_hh.shape[1]
        peep = w_ci is not None
        keep = grad and any(ctx.needs_input_grad)
        dnn = _use_onednn(x)
        sp = steps.split
        # Cell-input rows doubled: tanh(p) = 2 sigmoid(2p) - 1, one sigmoid over all gates;
        # what the sigmoid gives, g' = (g + 1) / 2, becomes g in place.
        b = None if b_ih is None else _double_rows(b_ih + b_hh, 2 * H, 3 * H)
        gx = _linear(x, _double_rows(w_ih, 2 * H, 3 * H), b, dnn)
        w_rec = _pack(_double_rows(w_hh, 2 * H, 3 * H), steps.batch, dnn)
        c_all, out = x.new_empty(N, H), x.new_empty(N, H)
        gx_k, c_k, o = sp(gx), sp(c_all), sp(out)
        g_i, g_f, g_g, g_o = sp(gx[:, :H]), sp(gx[:, H : 2 * H]), sp(gx[:, 2 * H : 3 * H]), sp(gx[:, 3 * H :])
        if peep:
            g_ifg = sp(gx[:, : 3 * H])
            w_if = torch.stack((w_ci, w_cf))
        if keep:
            r = x.new_empty(N, 2 * H)
            kap, r_f = sp(r[:, :H]), sp(r[:, H:])
        work = x.new_empty(3, steps.batch, H)  # tanh(c_t), i g, f c_{t-1} of the current step
        work_full = work.unbind(0)
        minus_one = x.new_full((), -1.0)
        uniform = steps.uniform
        # The step's elementwise work in one compiled C pass where it can (see _lstm_kernel).
        peeps = (w_ci, w_cf, w_co) if peep else None
        ckernel = _lstm_kernel.usable(x, c0, *(peeps or ())) and all(w.is_contiguous() for w in peeps or ())
        if ckernel:
            c0 = c0.contiguous()
            s_k, r_k = (sp(gx), sp(r)) if keep else (None, None)
        for k in range(len(o)):
            if k and uniform:
                h_prev, c_prev = o[k - 1], c_k[k - 1]
            else:
                h_prev, c_prev = _prev(steps, k, o, h0), _prev(steps, k, c_k, c0)
            if ckernel:  # the kernel adds the input projection to the product
                s_row, r_row = (s_k[k], r_k[k]) if keep else (None, None)
                pre = _linear(h_prev, w_rec, None, dnn)
                _lstm_kernel.lstm_forward_step(pre, gx_k[k], c_prev, peeps, c_k[k], o[k], s_row, r_row)
                continue
            pre = _linear_add(h_prev, w_rec, gx_k[k])
            i, f, g, og = g_i[k], g_f[k], g_g[k], g_o[k]
            if peep:
                pre[:, : 2 * H].unflatten(1, (2, H)).addcmul_(c_prev.unsqueeze(1), w_if)
                torch.sigmoid(pre[:, : 3 * H], out=g_ifg[k])
            else:
                torch.sigmoid(pre, out=gx_k[k])
            torch.add(minus_one, g, alpha=2, out=g)
            tc, ig, fc = work_full if steps.sizes[k] == steps.batch else work[:, : steps.sizes[k]].unbind(0)
            c = torch.add(torch.mul(f, c_prev, out=fc), torch.mul(i, g, out=ig), out=c_k[k])
            if peep:
                torch.sigmoid(pre[:, 3 * H :].addcmul_(c, w_co), out=og)
            torch.mul(c, 2, out=tc).sigmoid_()
            torch.add(minus_one, tc, alpha=2, out=tc)
            h = torch.mul(og, tc, out=o[k])
            if keep:  # the order matters: each line reads gates that later lines overwrite
                torch.addcmul(og, h, tc, value=-1, out=kap[k])  # o (1 - tanh^2 c) = o - h tanh c
                r_f[k].copy_(f)
                torch.addcmul(h, og, h, value=-1, out=og)  # tanh(c) o (1 - o) = h - o h
                torch.addcmul(fc, f, fc, value=-1, out=f)  # c_{t-1} f (1 - f)
                torch.addcmul(i, ig, g, value=-1, out=g)  # i (1 - g^2)
                torch.addcmul(ig, i, ig, value=-1, out=i)  # g i (1 - i)
        ctx.save_for_backward(x, w_ih, w_hh, h0, c0, w_ci, w_cf, w_co, out)
        if keep:
            ctx.s, ctx.r, ctx.c, ctx.steps = gx, r, c_all, steps
        return out, _last(steps, o), _last(steps, c_k)

    @staticmethod
    def backward(ctx, d_out, d_hn, d_cn):  # type: ignore[override]
        _refuse_double_backward()
        x, w_ih, w_hh, h0, c0, w_ci, w_cf, w_co, out = ctx.saved_tensors
        s, r, c_all, steps = ctx.s, ctx.r, ctx.c, ctx.steps
        peep = w_ci is not None
        dnn = _use_onednn(x)
        H = w_hh.shape[1]
        sp = steps.split
        a3, a_o, kap, f_k = sp(s[:, : 3 * H].unflatten(1, (3, H))), sp(s[:, 3 * H :]), sp(r[:, :H]), sp(r[:, H:])
        # Each step's gate gradients overwrite the factors they are made from, unless
        # the graph is kept for another backward pass.
        d_g = s if _graph_freed() else torch.empty_like(s)
        dg_k, dg3, dg_o = sp(d_g), sp(d_g[:, : 3 * H].unflatten(1, (3, H))), sp(d_g[:, 3 * H :])
        if peep:
            dg_i, dg_f = sp(d_g[:, :H]), sp(d_g[:, H : 2 * H])
        w_rec = _pack(w_hh.t(), steps.batch, dnn)  # dL/dh_{t-1} = dL/dgates_t W_hh
        do = sp(d_out)
        d_h0, d_c0 = torch.zeros_like(h0), torch.zeros_like(c0)
        K = len(do)
        b_last = steps.sizes[K - 1]
        # dL/dh_t = dh + do[t]: through step t+1 (and h_n) and from the output, added
        # by the kernel, or here for the torch ops.
        dh = d_hn[:b_last]
        dc_next = d_cn[:b_last]  # dL/dc_t arriving from step t+1 (and c_n)
        peeps = (w_ci, w_cf, w_co) if peep else None
        ckernel = _lstm_kernel.usable(s, d_out) and all(w.is_contiguous() for w in peeps or ())
        if ckernel:  # two dL/dc buffers, used in turn: a step reads one and writes the other
            s_k, r_k, dc_bufs = sp(s), sp(r), s.new_empty(2, steps.batch, H).unbind(0)
        for k in range(K - 1, -1, -1):
            if ckernel and dh.stride(1) == 1 and dc_next.stride(1) == 1:
                dc_prev = dc_bufs[k % 2][: steps.sizes[k]]
                _lstm_kernel.lstm_backward_step(dh, do[k], dc_next, s_k[k], r_k[k], peeps, dg_k[k], dc_prev)
            else:
                dh = dh + do[k]
                dc = torch.addcmul(dc_next, dh, kap[k])
                torch.mul(dh, a_o[k], out=dg_o[k])
                if peep:
                    dc.addcmul_(dg_o[k], w_co)
                torch.mul(dc.unsqueeze(1), a3[k], out=dg3[k])
                dc_prev = dc.mul_(f_k[k])
                if peep:
                    dc_prev.addcmul_(dg_i[k], w_ci).addcmul_(dg_f[k], w_cf)
            if k and steps.sizes[k] == steps.sizes[k - 1]:
                dh = _linear(dg_k[k], w_rec, None, dnn)
                dc_next = dc_prev
            elif k == 0:
                d_h0 = _into_init(steps, _linear(dg_k[0], w_rec, None, dnn), d_h0)
                d_c0 = _into_init(steps, dc_prev, d_c0)
            else:
                b, pb = steps.sizes[k], steps.sizes[k - 1]
                dh = _route(b, pb, _linear(dg_k[k], w_rec, None, dnn), d_hn, d_h0)
                dc_next = _route(b, pb, dc_prev, d_cn, d_c0)
        d_x, d_wih, d_b = _input_grads(ctx, d_g, x, w_ih, dnn)
        d_whh = _grad_w_hh(steps, d_g, out, h0, dnn) if ctx.needs_input_grad[2] else None
        d_ci = d_cf = d_co = None
        if peep and any(ctx.needs_input_grad[7:10]):  # d_g is not read again: scaled in place
            for d, c_prev in _with_prevs(steps, d_g[:, : 2 * H].unflatten(1, (2, H)), c_all, c0):
                d.mul_(c_prev.unsqueeze(1))
            d_g[:, 3 * H :].mul_(c_all)
            d_ci, d_cf, _, d_co = _column_sums(d_g).split(H)
        return d_x, d_wih, d_whh, d_b, d_b, d_h0, d_c0, d_ci, d_cf, d_co, None, None


