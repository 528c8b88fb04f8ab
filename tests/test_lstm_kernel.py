"""The compiled LSTM and GRU steps (zoo.layers._lstm_kernel): same results as the torch-op
path and torch.nn, and a silent fallback when they cannot be built or are turned off."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from zoo.layers import GRU, PeepholeLSTM
from zoo.layers import _lstm_kernel as kernel

TOL = 1e-5
I, H, T, B = 5, 7, 6, 4
LENGTHS = torch.tensor([6, 3, 5, 1])


@pytest.fixture
def fresh_kernel_state(monkeypatch, tmp_path):
    """Forget the loaded library and build into an empty cache directory."""
    monkeypatch.setattr(kernel, "_lib", None)
    monkeypatch.setattr(kernel, "_tried", False)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path))
    return tmp_path


def _outputs_and_grads(mod, packed: bool, retain: bool = False):
    torch.manual_seed(1)
    x = torch.randn(T, B, I, requires_grad=True)
    h0, c0 = torch.randn(2, B, H, requires_grad=True), torch.randn(2, B, H, requires_grad=True)
    inp = pack_padded_sequence(x, LENGTHS, enforce_sorted=False) if packed else x
    out, (h, c) = mod(inp, (h0, c0))
    out = out.data if packed else out
    gen = torch.Generator().manual_seed(2)
    loss = sum((t * torch.randn(t.shape, generator=gen)).sum() for t in (out, h, c))
    grads = torch.autograd.grad(loss, [x, h0, c0, *mod.parameters()], retain_graph=retain)
    return [out, h, c], list(grads)


def _max_diff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("peephole", [False, True])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_kernel_equals_torch_ops_and_torch_nn(peephole, packed, monkeypatch):
    if not kernel.available():
        pytest.skip("no C compiler here: the kernel falls back (tested below)")
    torch.manual_seed(0)
    mod = PeepholeLSTM(I, H, bidirectional=True, peephole=peephole)
    with torch.no_grad():
        for name, p in mod.named_parameters():
            if name.startswith("weight_c"):
                p.copy_(torch.randn_like(p))
    calls = {"forward": 0, "backward": 0}
    fwd, bwd = kernel.lstm_forward_step, kernel.lstm_backward_step
    monkeypatch.setattr(kernel, "lstm_forward_step", lambda *a: calls.__setitem__("forward", calls["forward"] + 1) or fwd(*a))
    monkeypatch.setattr(kernel, "lstm_backward_step", lambda *a: calls.__setitem__("backward", calls["backward"] + 1) or bwd(*a))
    with_kernel = _outputs_and_grads(mod, packed)
    assert calls["forward"] == 2 * T and calls["backward"] == 2 * T  # every step, both directions
    monkeypatch.setattr(kernel, "_lib", None)  # the torch-op path
    without = _outputs_and_grads(mod, packed)
    assert _max_diff(with_kernel[0], without[0]) <= TOL
    assert _max_diff(with_kernel[1], without[1]) <= TOL
    if not peephole:
        ref = nn.LSTM(I, H, bidirectional=True)
        ref.load_state_dict(mod.state_dict())
        expected = _outputs_and_grads(ref, packed)
        assert _max_diff(expected[0], with_kernel[0]) <= TOL and _max_diff(expected[1], with_kernel[1]) <= TOL


def test_kernel_keeps_a_retained_graph_intact():
    if not kernel.available():
        pytest.skip("no C compiler here")
    torch.manual_seed(0)
    mod = PeepholeLSTM(I, H)
    x = torch.randn(T, B, I)
    out, _ = mod(x)
    w = torch.randn(out.shape)
    first = torch.autograd.grad((out * w).sum(), list(mod.parameters()), retain_graph=True)
    second = torch.autograd.grad((out * w).sum(), list(mod.parameters()))
    assert _max_diff(first, second) == 0


def test_kernel_is_built_once_into_the_cache(fresh_kernel_state):
    if not (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here")
    assert kernel.available()
    path = kernel.library_path()
    assert path.is_file() and fresh_kernel_state in path.parents
    assert path.name.startswith("lstm_step-") and path.suffix == ".so"


def test_no_compiler_falls_back_silently(fresh_kernel_state, monkeypatch):
    monkeypatch.setenv("CC", str(fresh_kernel_state / "no-such-compiler"))
    assert not kernel.available()
    _check_layer_still_equals_torch_nn()


def test_environment_variable_turns_it_off(fresh_kernel_state, monkeypatch):
    monkeypatch.setenv("ZOO_C_KERNELS", "0")
    assert not kernel.available()
    assert not any(fresh_kernel_state.rglob("*.so"))  # nothing was compiled
    _check_layer_still_equals_torch_nn()


def _check_layer_still_equals_torch_nn():
    torch.manual_seed(0)
    ref, mod = nn.LSTM(I, H, bidirectional=True), PeepholeLSTM(I, H, bidirectional=True, peephole=False)
    mod.load_state_dict(ref.state_dict())
    expected, got = _outputs_and_grads(ref, packed=True), _outputs_and_grads(mod, packed=True)
    assert _max_diff(expected[0], got[0]) <= TOL and _max_diff(expected[1], got[1]) <= TOL


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_gru_kernel_equals_torch_ops_and_torch_nn(packed, monkeypatch):
    if not kernel.available():
        pytest.skip("no C compiler here")
    torch.manual_seed(0)
    ref, mod = nn.GRU(I, H, bidirectional=True), GRU(I, H, bidirectional=True)
    mod.load_state_dict(ref.state_dict())
    calls = []
    step = kernel.gru_forward_step
    monkeypatch.setattr(kernel, "gru_forward_step", lambda *a: calls.append(1) or step(*a))

    def run(module):
        torch.manual_seed(1)
        x = torch.randn(T, B, I, requires_grad=True)
        h0 = torch.randn(2, B, H, requires_grad=True)
        inp = pack_padded_sequence(x, LENGTHS, enforce_sorted=False) if packed else x
        out, h = module(inp, h0)
        out = out.data if packed else out
        loss = (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum() + (h * h).sum()
        return [out, h], list(torch.autograd.grad(loss, [x, h0, *module.parameters()]))

    with_kernel = run(mod)
    assert len(calls) == 2 * T
    monkeypatch.setattr(kernel, "_lib", None)
    without, expected = run(mod), run(ref)
    for a, b in ((with_kernel, without), (with_kernel, expected)):
        assert _max_diff(a[0], b[0]) <= TOL and _max_diff(a[1], b[1]) <= TOL


def test_rows_shared_among_threads_give_the_same_bits():
    """Steps large enough for the parallel rows (B * H >= 8192): the same numbers with
    one thread and two, and the same as the torch-op formulas."""
    if not kernel.available():
        pytest.skip("no C compiler here")
    gen = torch.Generator().manual_seed(0)
    b, h = 64, 160
    pre, x = torch.randn(b, 4 * h, generator=gen), torch.randn(b, 4 * h, generator=gen)
    c_prev = torch.randn(b, h, generator=gen)
    dh, dh2, dc_next = (torch.randn(b, h, generator=gen) for _ in range(3))
    g, gh = torch.randn(b, 3 * h, generator=gen), torch.randn(b, 3 * h, generator=gen)

    def run():
        c, hh, s, r = torch.empty(b, h), torch.empty(b, h), torch.empty(b, 4 * h), torch.empty(b, 2 * h)
        kernel.lstm_forward_step(pre, x, c_prev, None, c, hh, s, r)
        dg, dc_prev = torch.empty(b, 4 * h), torch.empty(b, h)
        kernel.lstm_backward_step(dh, dh2, dc_next, s, r, None, dg, dc_prev)
        g_out, h_gru, s_gru = g.clone(), torch.empty(b, h), torch.empty(b, 3 * h)
        kernel.gru_forward_step(g_out, gh, c_prev, h_gru, s_gru)
        return [c, hh, s, r, dg, dc_prev, g_out, h_gru, s_gru]

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = run()
        torch.set_num_threads(2)
        two = run()
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(x, y) for x, y in zip(one, two, strict=True))
    i, f, gg, o = (pre + x).chunk(4, 1)  # the g part arrives doubled: tanh(p) = 2 sigmoid(2p) - 1
    c_ref = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * (2 * torch.sigmoid(gg) - 1)
    assert _max_diff([one[0], one[1]], [c_ref, torch.sigmoid(o) * torch.tanh(c_ref)]) <= TOL


def test_kernel_binds_to_torchs_openmp_runtime():
    """Built with OpenMP, the kernel must use the libgomp torch runs on, not start a second pool."""
    import ctypes
    from pathlib import Path

    if not (kernel.available() and "-fopenmp" in kernel.FLAGS):
        pytest.skip("no OpenMP build here")
    torch_gomp = sorted((Path(torch.__file__).parent / "lib").glob("libgomp*.so*"))
    if not torch_gomp:
        pytest.skip("this torch build ships no libgomp of its own")
    # dlsym on a library handle searches that library and its dependencies: the
    # address says which runtime the kernel's OpenMP calls go to.
    ours = ctypes.cast(kernel._load().omp_get_max_threads, ctypes.c_void_p).value  # the library in use
    torchs = ctypes.cast(ctypes.CDLL(str(torch_gomp[0])).omp_get_max_threads, ctypes.c_void_p).value
    assert ours == torchs
