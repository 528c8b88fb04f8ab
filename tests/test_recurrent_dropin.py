"""zoo.layers.RNN / GRU / PeepholeLSTM as drop-ins for torch.nn's, side by side.

The cases follow torch.nn's documented behaviour and what its own RNN tests exercise:
argument and input checks (same exception types, same warning), double precision,
batch of 1, zero-length batch, deepcopy and pickle, ``flatten_parameters()``,
parameter reassignment, ``proj_size`` (LSTMP); then ``torch.jit.script``/``trace``,
``torch.compile`` and ``torch.export`` of the layers and cells, each equal to eager.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zoo.layers import GRU, RNN, GRUCell, PeepholeLSTM, PeepholeLSTMCell, RNNCell
from zoo.layers import _recurrent_fast as fast

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning", "ignore::torch.jit.TracerWarning")

TOL = 1e-5
I, H, T, B = 5, 7, 6, 4
LENGTHS = torch.tensor([6, 3, 5, 1])
KINDS = ["rnn", "gru", "lstm"]


def max_diff(a, b) -> float:
    return max(((x - y).abs().max().item() if x.numel() else 0.0) for x, y in zip(a, b, strict=True))


def flat(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, nn.utils.rnn.PackedSequence):
        return [out.data]
    return [t for o in out for t in flat(o)]


def pair(kind: str, **kw):
    """(torch.nn module, zoo module) with the same weights."""
    torch.manual_seed(0)
    if kind == "rnn":
        ref, mod = nn.RNN(I, H, **kw), RNN(I, H, **kw)
    elif kind == "gru":
        ref, mod = nn.GRU(I, H, **kw), GRU(I, H, **kw)
    else:
        ref, mod = nn.LSTM(I, H, **kw), PeepholeLSTM(I, H, peephole=False, **kw)
    mod.load_state_dict(ref.state_dict())
    return ref, mod


def outputs_and_grads(module, x, hx=None):
    x = x.detach().clone().requires_grad_()
    out = flat(module(x) if hx is None else module(x, hx))
    gen = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum() for t in out)
    params = [p for p in module.parameters()]
    grads = torch.autograd.grad(loss, [x, *params], allow_unused=True) if loss.requires_grad else []
    return out, [g for g in grads if g is not None]


def assert_same(ref, mod, x, hx=None, tol=TOL):
    expected, expected_grads = outputs_and_grads(ref, x, hx)
    got, got_grads = outputs_and_grads(mod, x, hx)
    assert [t.shape for t in got] == [t.shape for t in expected]
    assert [t.dtype for t in got] == [t.dtype for t in expected]
    assert max_diff(expected, got) <= tol
    assert len(got_grads) == len(expected_grads) and max_diff(expected_grads, got_grads) <= tol


# ------------------------------------------------------------------- proj_size (LSTMP)
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_proj_size_equals_torch_nn_lstm(layers, bidirectional):
    ref, mod = pair("lstm", proj_size=3, num_layers=layers, bidirectional=bidirectional)
    assert list(mod.state_dict()) == list(ref.state_dict())
    assert all(mod.state_dict()[k].shape == v.shape for k, v in ref.state_dict().items())
    assert "weight_hr_l0" in mod.state_dict()
    assert ("weight_hr_l1_reverse" in mod.state_dict()) == (layers == 2 and bidirectional)
    torch.manual_seed(1)
    d = 2 if bidirectional else 1
    x = torch.randn(T, B, I)
    assert_same(ref, mod, x)
    hx = (torch.randn(layers * d, B, 3), torch.randn(layers * d, B, H))
    assert_same(ref, mod, x, hx)
    packed = pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
    (out_r, (h_r, c_r)), (out_z, (h_z, c_z)) = ref(packed, hx), mod(packed, hx)
    assert max_diff([out_r.data, h_r, c_r], [out_z.data, h_z, c_z]) <= TOL
    assert out_z.data.shape[-1] == 3 * d and h_z.shape[-1] == 3 and c_z.shape[-1] == H
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        mod(x, (torch.randn(layers * d, B, H), torch.randn(layers * d, B, H)))


def test_proj_size_with_peepholes_and_repr():
    mod = PeepholeLSTM(I, H, proj_size=3, bidirectional=True)
    assert "proj_size=3" in repr(mod)
    assert [n for n in mod.state_dict() if n.endswith("_l0")] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
        "weight_ci_l0", "weight_cf_l0", "weight_co_l0",
    ]
    out, (h, c) = mod(torch.randn(T, B, I))
    assert out.shape == (T, B, 6) and h.shape == (2, B, 3) and c.shape == (2, B, H)


# ------------------------------------------------------------------- argument and input checks
def _raised(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return type(exc)
    return None


CONSTRUCTOR_CASES = {
    "bad nonlinearity": ("rnn", dict(nonlinearity="sigmoid")),
    "dropout above 1": ("gru", dict(dropout=1.5)),
    "dropout negative": ("lstm", dict(dropout=-0.1)),
    "dropout bool": ("gru", dict(dropout=True)),
    "num_layers 0": ("rnn", dict(num_layers=0)),
    "hidden_size float": ("gru", dict(hidden_size=7.0)),
    "hidden_size 0": ("lstm", dict(hidden_size=0)),
    "input_size 0": ("gru", dict(input_size=0)),
    "bias not bool": ("lstm", dict(bias=1)),
    "batch_first not bool": ("rnn", dict(batch_first=1)),
    "proj_size negative": ("lstm", dict(proj_size=-1)),
    "proj_size not below hidden": ("lstm", dict(proj_size=H)),
}


@pytest.mark.parametrize("case", CONSTRUCTOR_CASES)
def test_constructor_errors_have_torch_nn_types(case):
    kind, kw = CONSTRUCTOR_CASES[case]
    kw = {"input_size": I, "hidden_size": H, **kw}
    ref_cls, zoo_cls = {"rnn": (nn.RNN, RNN), "gru": (nn.GRU, GRU), "lstm": (nn.LSTM, PeepholeLSTM)}[kind]
    expected = _raised(lambda: ref_cls(**kw))
    assert expected is not None, "torch.nn accepted it"
    with pytest.raises(expected):
        zoo_cls(**kw)


def test_dropout_with_one_layer_warns_like_torch_nn():
    for cls in (nn.GRU, GRU):
        with pytest.warns(UserWarning, match="num_layers greater than 1"):
            cls(I, H, dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GRU(I, H, num_layers=2, dropout=0.2)


def _input_cases(kind):
    h = lambda *s: torch.zeros(*s)  # noqa: E731
    state = (lambda *s: (h(*s), h(*s))) if kind == "lstm" else h
    return {
        "wrong input size": (torch.randn(T, B, I + 1), None),
        "4-D input": (torch.randn(T, B, I, 1), None),
        "1-D input": (torch.randn(I), None),
        "float64 input": (torch.randn(T, B, I, dtype=torch.float64), None),
        "int64 input": (torch.ones(T, B, I, dtype=torch.long), None),
        "wrong hidden batch": (torch.randn(T, B, I), state(1, B + 1, H)),
        "wrong hidden layers": (torch.randn(T, B, I), state(2, B, H)),
        "wrong hidden size": (torch.randn(T, B, I), state(1, B, H + 1)),
        "unbatched input, 3-D hidden": (torch.randn(T, I), state(1, 1, H)),
        "batched input, 2-D hidden": (torch.randn(T, B, I), state(1, H)),
        "zero-length sequence": (torch.randn(0, B, I), None),
        "float64 hidden": (torch.randn(T, B, I), state(1, B, H) if kind != "lstm" else (h(1, B, H).double(),) * 2),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_input_errors_have_torch_nn_types(kind):
    ref, mod = pair(kind)
    for case, (x, hx) in _input_cases(kind).items():
        if case == "float64 hidden" and kind != "lstm":
            hx = hx.double()
        args = (x,) if hx is None else (x, hx)
        expected = _raised(lambda: ref(*args))
        assert expected is not None, f"torch.nn accepted {case}"
        got = _raised(lambda: mod(*args))
        assert got is expected, f"{case}: torch.nn raises {expected.__name__}, zoo {got and got.__name__}"
    with pytest.raises(ValueError, match=r"input.to\(torch.float32\)"):  # says what to convert
        mod(torch.randn(T, B, I, dtype=torch.float64))


@pytest.mark.parametrize("kind", KINDS)
def test_cell_errors_have_torch_nn_types(kind):
    torch.manual_seed(0)
    if kind == "rnn":
        ref, cell = nn.RNNCell(I, H), RNNCell(I, H)
    elif kind == "gru":
        ref, cell = nn.GRUCell(I, H), GRUCell(I, H)
    else:
        ref, cell = nn.LSTMCell(I, H), PeepholeLSTMCell(I, H, peephole=False)
    state = (lambda *s: (torch.zeros(*s), torch.zeros(*s))) if kind == "lstm" else torch.zeros
    cases = {
        "3-D input": (torch.randn(1, B, I), None),
        "3-D hidden": (torch.randn(B, I), state(1, B, H)),
        "wrong input size": (torch.randn(B, I + 1), None),
        "float64 input": (torch.randn(B, I, dtype=torch.float64), None),
        "wrong hidden batch": (torch.randn(B, I), state(B + 1, H)),
        "1-D input, 2-D hidden": (torch.randn(I), state(2, H)),
    }
    for case, (x, hx) in cases.items():
        args = (x,) if hx is None else (x, hx)
        expected = _raised(lambda: ref(*args))
        assert expected is not None, f"torch.nn accepted {case}"
        assert _raised(lambda: cell(*args)) is expected, case
    if kind == "rnn":  # torch.nn.RNNCell accepts any nonlinearity and fails when called
        bad_ref, bad = nn.RNNCell(I, H, nonlinearity="sigmoid"), RNNCell(I, H, nonlinearity="sigmoid")
        assert _raised(lambda: bad(torch.randn(B, I))) is _raised(lambda: bad_ref(torch.randn(B, I))) is RuntimeError


# ------------------------------------------------------------------- behaviours from torch.nn's tests
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("kind", KINDS)
def test_float64_batch_one_and_zero_batch(kind, fused):
    ref, mod = pair(kind, num_layers=2, bidirectional=True)
    mod.fused = fused
    ref64, mod64 = copy.deepcopy(ref).double(), copy.deepcopy(mod).double()
    torch.manual_seed(2)
    assert_same(ref64, mod64, torch.randn(T, B, I, dtype=torch.float64), tol=1e-12)
    assert_same(ref, mod, torch.randn(T, 1, I))  # batch of one
    assert_same(ref, mod, torch.randn(1, B, I))  # one step
    assert_same(ref, mod, torch.randn(T, 0, I))  # zero-length batch


@pytest.mark.parametrize("kind", KINDS)
def test_deepcopy_pickle_and_flatten_parameters(kind, tmp_path):
    _, mod = pair(kind, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(B, T, I)
    expected = flat(mod(x))
    mod.flatten_parameters()  # a no-op on CPU, as in torch.nn
    for clone in (copy.deepcopy(mod), pickle.loads(pickle.dumps(mod))):
        assert max_diff(expected, flat(clone(x))) == 0
        assert all(a.data_ptr() != b.data_ptr() for a, b in zip(mod.parameters(), clone.parameters()))
    torch.save(mod, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=False)
    assert max_diff(expected, flat(loaded(x))) == 0


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("kind", KINDS)
def test_parameter_reassignment_takes_effect(kind, fused):
    ref, mod = pair(kind)
    mod.fused = fused
    x = torch.randn(T, B, I)
    new = 0.3 * torch.randn_like(ref.weight_hh_l0)
    ref.weight_hh_l0 = nn.Parameter(new.clone())
    mod.weight_hh_l0 = nn.Parameter(new.clone())
    assert_same(ref, mod, x)
    assert any(p is mod.weight_hh_l0 for p in mod.parameters())
    mod.to(torch.float64)  # module.to swaps the parameters too
    assert max_diff(flat(ref.double()(x.double())), flat(mod(x.double()))) <= 1e-12


# ------------------------------------------------------------------- script, trace, compile, export
def _layers():
    torch.manual_seed(0)
    return {
        "rnn_relu": RNN(I, H, nonlinearity="relu", num_layers=2),
        "gru_bi": GRU(I, H, bidirectional=True, batch_first=True),
        "gru_before": GRU(I, H, reset_after=False),
        "peephole": PeepholeLSTM(I, H, num_layers=2, bidirectional=True),
        "lstm_proj": PeepholeLSTM(I, H, proj_size=3, peephole=False),
    }


def _cells():
    torch.manual_seed(0)
    return {"rnn_cell": RNNCell(I, H), "gru_cell": GRUCell(I, H, reset_after=False), "lstm_cell": PeepholeLSTMCell(I, H)}


def _example(name, module):
    torch.manual_seed(3)
    if name.endswith("cell"):
        return (torch.randn(B, I),)
    return (torch.randn(B, T, I) if module.batch_first else torch.randn(T, B, I),)


@pytest.mark.parametrize("name", [*_layers(), *_cells()])
def test_torch_jit_script_equals_eager(name):
    module = {**_layers(), **_cells()}[name].eval()
    scripted = torch.jit.script(module)
    x = _example(name, module)
    assert max_diff(flat(module(*x)), flat(scripted(*x))) <= TOL
    if not name.endswith("cell"):  # with a state, and unbatched
        out, state = module(*x)
        assert max_diff(flat(module(x[0], state)), flat(scripted(x[0], state))) <= TOL
        assert max_diff(flat(module(x[0][0])), flat(scripted(x[0][0]))) <= TOL
    scripted.train()  # gradients flow through the scripted loop
    x_grad = x[0].clone().requires_grad_()
    sum(t.sum() for t in flat(scripted(x_grad))).backward()
    assert x_grad.grad is not None and x_grad.grad.abs().sum() > 0


@pytest.mark.parametrize("name", [*_layers(), *_cells()])
def test_torch_jit_trace_equals_eager(name):
    module = {**_layers(), **_cells()}[name].eval()
    x = _example(name, module)
    traced = torch.jit.trace(module, x)
    assert max_diff(flat(module(*x)), flat(traced(*x))) <= TOL
    torch.manual_seed(4)
    other = (torch.randn_like(x[0]),)  # another input of the traced shape
    assert max_diff(flat(module(*other)), flat(traced(*other))) <= TOL


@pytest.mark.parametrize("name", [*_layers(), *_cells()])
def test_torch_export_equals_eager(name):
    module = {**_layers(), **_cells()}[name].eval()
    x = _example(name, module)
    exported = torch.export.export(module, x)
    assert max_diff(flat(module(*x)), flat(exported.module()(*x))) <= TOL


def test_torch_compile_fullgraph_captures_without_breaks():
    """Dynamo captures the layer in one graph (fullgraph=True raises on any break);
    the eager backend keeps this quick. Inductor itself runs in the slow test below."""
    torch._dynamo.reset()
    module = PeepholeLSTM(I, H, bidirectional=True)
    x = torch.randn(3, B, I)
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    assert_same(module, compiled, x)


@pytest.mark.slow
@pytest.mark.parametrize("name", [*_layers(), *_cells()])
def test_torch_compile_inductor_equals_eager(name):
    torch._dynamo.reset()
    module = {**_layers(), **_cells()}[name]
    x = _example(name, module)
    compiled = torch.compile(module, fullgraph=True)
    assert_same(module, compiled, x[0])


def test_script_and_trace_keep_the_eager_path_fused(monkeypatch):
    """Scripting or tracing routes the traced module to the readable loop, but the
    eager module itself keeps its fused kernels (and gives the same numbers)."""
    module = PeepholeLSTM(I, H)
    x = torch.randn(T, B, I)
    calls = []
    layer = fast.layer
    monkeypatch.setattr(fast, "layer", lambda *a: calls.append(1) or layer(*a))
    scripted, traced = torch.jit.script(module), torch.jit.trace(module, (x,), check_trace=False)
    assert calls == []
    module(x)
    assert calls == [1]
    assert max_diff(flat(module(x)), flat(scripted(x))) <= TOL
