"""zoo.layers.recurrent against torch.nn and against the papers' equations.

Every comparison is max |difference| <= 1e-5 on outputs, final states and the
gradients of the input, of the initial states and of every weight, for both the fused
(hand-written BPTT) and the reference (step-by-step autograd) implementation.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from zoo.layers import GRU, RNN, GRUCell, PeepholeLSTM, PeepholeLSTMCell, RNNCell
from zoo.layers import _recurrent_fast as fast

TOL = 1e-5
I, H, T, B = 5, 7, 6, 4
LENGTHS = torch.tensor([6, 3, 5, 1])  # unsorted on purpose: enforce_sorted=False


def max_diff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def pair(kind: str, fused: bool = True, **kw):
    """A torch.nn module and the zoo module with the same weights."""
    if kind == "rnn_tanh":
        ref, mod = nn.RNN(I, H, **kw), RNN(I, H, **kw, fused=fused)
    elif kind == "rnn_relu":
        ref, mod = nn.RNN(I, H, nonlinearity="relu", **kw), RNN(I, H, nonlinearity="relu", **kw, fused=fused)
    elif kind == "gru":
        ref, mod = nn.GRU(I, H, **kw), GRU(I, H, **kw, fused=fused)
    else:
        ref, mod = nn.LSTM(I, H, **kw), PeepholeLSTM(I, H, **kw, peephole=False, fused=fused)
    mod.load_state_dict(ref.state_dict())
    return ref, mod


def run(module, x, hx, *, packed: bool, batch_first: bool, lengths=LENGTHS):
    """Forward + backward of a fixed random functional; returns outputs and gradients."""
    x = x.clone().requires_grad_()
    states_in = [] if hx is None else [t.clone().requires_grad_() for t in (hx if isinstance(hx, tuple) else (hx,))]
    h_arg = None if hx is None else (tuple(states_in) if isinstance(hx, tuple) else states_in[0])
    inp = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False) if packed else x
    out, state = module(inp, h_arg)
    if packed:
        out = pad_packed_sequence(out, batch_first=batch_first)[0]
    states = list(state) if isinstance(state, tuple) else [state]
    gen = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum() for t in [out, *states])
    loss.backward()
    grads = [x.grad, *(t.grad for t in states_in), *(p.grad for p in module.parameters())]
    return [out, *states], grads


CASES = list(itertools.product(["rnn_tanh", "rnn_relu", "gru", "lstm"], [1, 2], [False, True]))


@pytest.fixture
def onednn_everywhere(monkeypatch):
    """Every float32 CPU product through oneDNN, however small: the thresholds that keep
    small products on torch.mm would otherwise keep these tests' sizes off oneDNN."""
    if not fast._ONEDNN_OPS:
        pytest.skip("this torch build has no oneDNN linear op")
    monkeypatch.setattr(fast, "_ONEDNN", True)  # on Intel CPUs it is off by default
    monkeypatch.setattr(fast, "_PACK_MIN_WEIGHT", 0)
    monkeypatch.setattr(fast, "_ONEDNN_MIN_MACS", 0)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("kind,layers,bidirectional", CASES)
def test_parity_with_torch_nn(kind, layers, bidirectional, fused):
    check_parity(kind, layers, bidirectional, fused)


@pytest.mark.parametrize("kind,layers,bidirectional", CASES)
def test_parity_with_torch_nn_through_onednn(kind, layers, bidirectional, onednn_everywhere):
    check_parity(kind, layers, bidirectional, fused=True)


def check_parity(kind, layers, bidirectional, fused):
    torch.manual_seed(0)
    for batch_first, with_state, packed in itertools.product([False, True], repeat=3):
        ref, mod = pair(kind, fused, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
        x = torch.randn((B, T, I) if batch_first else (T, B, I))
        hx = None
        if with_state:
            shape = (layers * (2 if bidirectional else 1), B, H)
            hx = (torch.randn(shape), torch.randn(shape)) if kind == "lstm" else torch.randn(shape)
        expected, expected_grads = run(ref, x, hx, packed=packed, batch_first=batch_first)
        got, got_grads = run(mod, x, hx, packed=packed, batch_first=batch_first)
        where = f"batch_first={batch_first} state={with_state} packed={packed}"
        assert max_diff(expected, got) <= TOL, where
        assert max_diff(expected_grads, got_grads) <= TOL, where


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm"])
def test_unbatched_input_matches_torch(kind):
    torch.manual_seed(0)
    ref, mod = pair(kind, num_layers=2, bidirectional=True)
    x = torch.randn(T, I)
    (out_r, st_r), (out_z, st_z) = ref(x), mod(x)
    st_r, st_z = (st_r if isinstance(st_r, tuple) else (st_r,)), (st_z if isinstance(st_z, tuple) else (st_z,))
    assert out_z.shape == (T, 2 * H)
    assert max_diff([out_r, *st_r], [out_z, *st_z]) <= TOL


def test_state_dict_keys_match_torch_nn():
    for kind in ["rnn_tanh", "gru", "lstm"]:
        for bias in (True, False):
            ref, mod = pair(kind, num_layers=2, bidirectional=True, bias=bias)
            assert list(mod.state_dict()) == list(ref.state_dict())
            assert all(mod.state_dict()[k].shape == v.shape for k, v in ref.state_dict().items())
    peep = PeepholeLSTM(I, H, num_layers=2, bidirectional=True)
    result = peep.load_state_dict(nn.LSTM(I, H, num_layers=2, bidirectional=True).state_dict(), strict=False)
    assert sorted(result.missing_keys) == sorted(
        f"weight_{p}_l{k}{s}" for p in ("ci", "cf", "co") for k in (0, 1) for s in ("", "_reverse")
    )
    assert result.unexpected_keys == []


# ------------------------------------------------------------------- peephole LSTM
def gers_lstm(x, params, layers, bidirectional, lengths):
    """Gers & Schmidhuber (2000) peephole LSTM written out step by step, one sequence at a
    time (so no padding, no packing): x (T, B, I) -> output (T, B, D*H) zero past each
    length, h_n, c_n."""
    directions = 2 if bidirectional else 1
    outputs, h_n, c_n = [], [], []
    for b in range(x.shape[1]):
        seq = x[: int(lengths[b]), b]
        hs_seq, cs_seq = [], []
        for layer in range(layers):
            outs = []
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w_ih, w_hh = params["weight_ih" + sfx], params["weight_hh" + sfx]
                b_all = params["bias_ih" + sfx] + params["bias_hh" + sfx]
                w_ci, w_cf, w_co = params["weight_ci" + sfx], params["weight_cf" + sfx], params["weight_co" + sfx]
                W = [w_ih[k * H : (k + 1) * H] for k in range(4)]
                U = [w_hh[k * H : (k + 1) * H] for k in range(4)]
                bb = [b_all[k * H : (k + 1) * H] for k in range(4)]
                h, c = torch.zeros(H, dtype=x.dtype), torch.zeros(H, dtype=x.dtype)
                order = range(len(seq) - 1, -1, -1) if d else range(len(seq))
                step_out = [None] * len(seq)
                for t in order:
                    xt = seq[t]
                    i = torch.sigmoid(W[0] @ xt + U[0] @ h + bb[0] + w_ci * c)
                    f = torch.sigmoid(W[1] @ xt + U[1] @ h + bb[1] + w_cf * c)
                    g = torch.tanh(W[2] @ xt + U[2] @ h + bb[2])
                    c = f * c + i * g
                    o = torch.sigmoid(W[3] @ xt + U[3] @ h + bb[3] + w_co * c)
                    h = o * torch.tanh(c)
                    step_out[t] = h
                outs.append(torch.stack(step_out))
                hs_seq.append(h)
                cs_seq.append(c)
            seq = torch.cat(outs, -1)
        padded = torch.cat([seq, seq.new_zeros(x.shape[0] - len(seq), seq.shape[1])])
        outputs.append(padded)
        h_n.append(torch.stack(hs_seq))
        c_n.append(torch.stack(cs_seq))
    return torch.stack(outputs, 1), torch.stack(h_n, 1), torch.stack(c_n, 1)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_peephole_lstm_matches_gers_equations(layers, bidirectional, fused):
    torch.manual_seed(0)
    mod = PeepholeLSTM(I, H, num_layers=layers, bidirectional=bidirectional, fused=fused)
    with torch.no_grad():
        for name, p in mod.named_parameters():
            if name.startswith("weight_c"):
                p.copy_(torch.randn_like(p))  # large, so the peepholes matter
    x = torch.randn(T, B, I)
    for packed in (False, True):
        lengths = LENGTHS if packed else torch.full((B,), T)
        xr = x.clone().requires_grad_()
        expected = gers_lstm(xr, dict(mod.named_parameters()), layers, bidirectional, lengths)
        gen = torch.Generator().manual_seed(2)
        weights = [torch.randn(t.shape, generator=gen) for t in expected]
        sum((t * w).sum() for t, w in zip(expected, weights)).backward()
        expected_grads = [xr.grad] + [p.grad.clone() for p in mod.parameters()]
        mod.zero_grad(set_to_none=True)
        xz = x.clone().requires_grad_()
        inp = pack_padded_sequence(xz, lengths, enforce_sorted=False) if packed else xz
        out, (h_n, c_n) = mod(inp)
        if packed:
            out = pad_packed_sequence(out, total_length=T)[0]
        got = [out, h_n, c_n]
        sum((t * w).sum() for t, w in zip(got, weights)).backward()
        got_grads = [xz.grad] + [p.grad for p in mod.parameters()]
        mod.zero_grad(set_to_none=True)
        assert max_diff(expected, got) <= TOL
        assert max_diff(expected_grads, got_grads) <= TOL


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_zero_peepholes_equal_nn_lstm(fused):
    torch.manual_seed(0)
    ref = nn.LSTM(I, H, num_layers=2, bidirectional=True)
    mod = PeepholeLSTM(I, H, num_layers=2, bidirectional=True, fused=fused)
    mod.load_state_dict(ref.state_dict(), strict=False)
    with torch.no_grad():
        for name, p in mod.named_parameters():
            if name.startswith("weight_c"):
                p.zero_()
    x = torch.randn(T, B, I)
    expected, expected_grads = run(ref, x, None, packed=True, batch_first=False)
    got, got_grads = run(mod, x, None, packed=True, batch_first=False)
    assert max_diff(expected, got) <= TOL
    assert max_diff(expected_grads[:1], got_grads[:1]) <= TOL  # the input's
    # torch.nn's parameters, in torch.nn's order; the peepholes follow each direction's.
    shared = [p.grad for n, p in mod.named_parameters() if not n.startswith("weight_c")]
    assert max_diff(expected_grads[1:], shared) <= TOL
    peephole_grads = [p.grad for n, p in mod.named_parameters() if n.startswith("weight_c")]
    assert all(g.abs().sum() > 0 for g in peephole_grads)  # zero peepholes still learn


def test_peepholes_change_the_output():
    torch.manual_seed(0)
    mod = PeepholeLSTM(I, H)
    plain = PeepholeLSTM(I, H, peephole=False)
    plain.load_state_dict(mod.state_dict(), strict=False)
    x = torch.randn(T, B, I)
    assert (mod(x)[0] - plain(x)[0]).abs().max() > 1e-3


# ------------------------------------------------------------------- GRU reset_after=False
def cho_gru(x, params, lengths):
    """Cho et al. (2014) GRU, reset before the recurrent product, one layer, step by step."""
    w_ih, w_hh, b_ih, b_hh = (params[k + "_l0"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    Wr, Wz, Wn = w_ih.split(H)
    Ur, Uz, Un = w_hh.split(H)
    br, bz, bn = (b_ih + b_hh).split(H)  # every bias sits outside the reset gate here
    outs, last = [], []
    for b in range(x.shape[1]):
        h = torch.zeros(H, dtype=x.dtype)
        hs = []
        for t in range(int(lengths[b])):
            xt = x[t, b]
            r = torch.sigmoid(Wr @ xt + Ur @ h + br)
            z = torch.sigmoid(Wz @ xt + Uz @ h + bz)
            n = torch.tanh(Wn @ xt + Un @ (r * h) + bn)
            h = (1 - z) * n + z * h
            hs.append(h)
        hs += [torch.zeros(H)] * (x.shape[0] - len(hs))
        outs.append(torch.stack(hs))
        last.append(h)
    return torch.stack(outs, 1), torch.stack(last)[None]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_gru_reset_before_matches_cho_equations(fused):
    torch.manual_seed(0)
    mod = GRU(I, H, reset_after=False, fused=fused)
    x = torch.randn(T, B, I)
    for packed in (False, True):
        lengths = LENGTHS if packed else torch.full((B,), T)
        xr = x.clone().requires_grad_()
        expected = cho_gru(xr, dict(mod.named_parameters()), lengths)
        weights = [torch.randn_like(t) for t in expected]
        sum((t * w).sum() for t, w in zip(expected, weights)).backward()
        expected_grads = [xr.grad] + [p.grad.clone() for p in mod.parameters()]
        mod.zero_grad(set_to_none=True)
        xz = x.clone().requires_grad_()
        out, h_n = mod(pack_padded_sequence(xz, lengths, enforce_sorted=False) if packed else xz)
        if packed:
            out = pad_packed_sequence(out, total_length=T)[0]
        sum((t * w).sum() for t, w in zip([out, h_n], weights)).backward()
        got_grads = [xz.grad] + [p.grad for p in mod.parameters()]
        mod.zero_grad(set_to_none=True)
        assert max_diff(expected, [out, h_n]) <= TOL
        assert max_diff(expected_grads, got_grads) <= TOL


def test_gru_reset_conventions_differ():
    torch.manual_seed(0)
    after, before = GRU(I, H), GRU(I, H, reset_after=False)
    before.load_state_dict(after.state_dict())
    x = torch.randn(T, B, I)
    assert (after(x)[0] - before(x)[0]).abs().max() > 1e-4


# ------------------------------------------------------------------- cells
@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
def test_cells_match_torch_nn_cells(kind):
    torch.manual_seed(0)
    if kind.startswith("rnn"):
        act = kind.split("_")[1]
        ref, cell = nn.RNNCell(I, H, nonlinearity=act), RNNCell(I, H, nonlinearity=act)
    elif kind == "gru":
        ref, cell = nn.GRUCell(I, H), GRUCell(I, H)
    else:
        ref, cell = nn.LSTMCell(I, H), PeepholeLSTMCell(I, H, peephole=False)
    cell.load_state_dict(ref.state_dict())
    assert list(cell.state_dict()) == list(ref.state_dict())
    x = torch.randn(B, I)
    state = (torch.randn(B, H), torch.randn(B, H)) if kind == "lstm" else torch.randn(B, H)
    for hx in (None, state):
        results = []
        for module in (ref, cell):
            xx = x.clone().requires_grad_()
            out = module(xx, hx)
            outs = out if isinstance(out, tuple) else (out,)
            sum((o * torch.arange(o.numel()).view_as(o).cos()).sum() for o in outs).backward()
            results.append([*outs, xx.grad, *(p.grad.clone() for p in module.parameters())])
            module.zero_grad(set_to_none=True)
        assert max_diff(*results) <= TOL
    unbatched = cell(x[0], None if kind != "lstm" else (state[0][0], state[1][0]))
    batched = cell(x[:1], None if kind != "lstm" else (state[0][:1], state[1][:1]))
    if kind == "lstm":
        assert max_diff(unbatched, [t[0] for t in batched]) <= TOL
    else:
        assert unbatched.shape == (H,) and max_diff([unbatched], [batched[0]]) <= TOL


def test_peephole_cell_matches_gers_step():
    torch.manual_seed(0)
    cell = PeepholeLSTMCell(I, H)
    x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
    gx = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    gi, gf, gg, go = gx.split(H, 1)
    i = torch.sigmoid(gi + cell.weight_ci * c)
    f = torch.sigmoid(gf + cell.weight_cf * c)
    c_new = f * c + i * torch.tanh(gg)
    h_new = torch.sigmoid(go + cell.weight_co * c_new) * torch.tanh(c_new)
    assert max_diff(cell(x, (h, c)), [h_new, c_new]) <= TOL


def test_layer_equals_cell_loop():
    torch.manual_seed(0)
    layer, cell = GRU(I, H, reset_after=False), GRUCell(I, H, reset_after=False)
    cell.load_state_dict({k[: -len("_l0")]: v for k, v in layer.state_dict().items()})
    x = torch.randn(T, B, I)
    h = torch.zeros(B, H)
    outs = []
    for t in range(T):
        h = cell(x[t], h)
        outs.append(h)
    assert max_diff(layer(x), [torch.stack(outs), h[None]]) <= TOL


# ------------------------------------------------------------------- the fused backward itself
def _fused_module(kind: str, input_size: int = I, hidden_size: int = H, **kw):
    """One of the six fused layer variants by name."""
    size = (input_size, hidden_size)
    return {
        "rnn_tanh": lambda: RNN(*size, **kw),
        "rnn_relu": lambda: RNN(*size, nonlinearity="relu", **kw),
        "gru": lambda: GRU(*size, **kw),
        "gru_before": lambda: GRU(*size, reset_after=False, **kw),
        "lstm": lambda: PeepholeLSTM(*size, peephole=False, **kw),
        "peephole": lambda: PeepholeLSTM(*size, **kw),
    }[kind]()


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "gru_before", "lstm", "peephole"])
def test_fused_backward_gradcheck_float64(kind):
    """Finite differences against the hand-written BPTT for every input and parameter,
    on a packed, bidirectional, two-layer batch with an initial state."""
    torch.manual_seed(0)
    i_, h_, t_, lengths = 2, 3, 4, torch.tensor([4, 2, 3])
    mod = _fused_module(kind, i_, h_, num_layers=2, bidirectional=True, dtype=torch.float64)
    names = [n for n, _ in mod.named_parameters()]
    is_lstm = kind in ("lstm", "peephole")

    def f(x, h0, c0, *params):
        inp = pack_padded_sequence(x, lengths, enforce_sorted=False)
        hx = (h0, c0) if is_lstm else h0
        out, state = torch.func.functional_call(mod, dict(zip(names, params)), (inp, hx))
        states = state if is_lstm else (state,)
        return (out.data, *states)

    x = torch.randn(t_, 3, i_, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 3, h_, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 3, h_, dtype=torch.float64, requires_grad=is_lstm)
    params = [p.detach().clone().requires_grad_() for p in mod.parameters()]
    assert torch.autograd.gradcheck(f, (x, h0, c0, *params), fast_mode=True)


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "gru_before", "lstm", "peephole"])
def test_backward_through_a_retained_graph_repeats_itself(kind):
    """The fused backward overwrites what the forward pass saved only when the graph is
    freed afterwards; with retain_graph=True a second backward must see it intact."""
    torch.manual_seed(0)
    mod = _fused_module(kind, num_layers=2, bidirectional=True)
    x = torch.randn(T, B, I, requires_grad=True)
    out, _ = mod(x)
    w = torch.randn(out.shape)
    params = [x, *mod.parameters()]
    first = torch.autograd.grad((out * w).sum(), params, retain_graph=True)
    second = torch.autograd.grad((out * w).sum(), params, retain_graph=True)
    third = torch.autograd.grad((out * w).sum(), params)  # frees the graph: may overwrite
    assert max_diff(first, second) == 0
    assert max_diff(first, third) == 0


def test_products_go_to_onednn_only_where_it_pays(monkeypatch):
    if not fast._ONEDNN_OPS:
        pytest.skip("this torch build has no oneDNN linear op")
    monkeypatch.setattr(fast, "_ONEDNN", True)  # on Intel CPUs it is off by default
    x = torch.zeros(1)
    assert fast._use_onednn(x) and not fast._use_onednn(x.double())
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    assert not fast._use_onednn(x)
    assert fast._pack(torch.zeros(1024, 256), 64, dnn=True).is_mkldnn  # an LSTM's W_hh, hidden 256
    assert not fast._pack(torch.zeros(1024, 256), 64, dnn=False).is_mkldnn
    assert not fast._pack(torch.zeros(28, 7), 4, dnn=True).is_mkldnn


@pytest.mark.parametrize("kind", ["rnn_tanh", "rnn_relu", "gru", "gru_before", "lstm", "peephole"])
def test_onednn_and_torch_mm_products_agree(kind, onednn_everywhere, monkeypatch):
    """float32 CPU products go through oneDNN where torch has it, else through torch.mm.
    Same results up to rounding."""
    torch.manual_seed(0)
    mod = _fused_module(kind, num_layers=2, bidirectional=True)
    x = pack_padded_sequence(torch.randn(T, B, I), LENGTHS, enforce_sorted=False)

    def outputs_and_grads():
        data = x.data.clone().requires_grad_()
        out, state = mod(x._replace(data=data))
        states = list(state) if isinstance(state, tuple) else [state]
        loss = sum((t * torch.linspace(-1, 1, t.numel()).view(t.shape)).sum() for t in [out.data, *states])
        grads = torch.autograd.grad(loss, [data, *mod.parameters()])
        return [out.data, *states], grads

    default = outputs_and_grads()
    monkeypatch.setattr(fast, "_ONEDNN", False)
    plain = outputs_and_grads()
    assert max_diff(default[0], plain[0]) <= TOL
    assert max_diff(default[1], plain[1]) <= TOL


def test_fused_refuses_double_backward_reference_allows_it():
    torch.manual_seed(0)
    x = torch.randn(3, 2, I, dtype=torch.float64, requires_grad=True)
    fused = PeepholeLSTM(I, 3, dtype=torch.float64)
    out, _ = fused(x)
    with pytest.raises(RuntimeError, match="fused=False"):
        torch.autograd.grad(out.sum(), x, create_graph=True)
    reference = PeepholeLSTM(I, 3, dtype=torch.float64, fused=False)
    assert torch.autograd.gradgradcheck(lambda inp: reference(inp)[0], (x,), fast_mode=True)


def test_fused_and_reference_agree_in_inference_and_training_dropout():
    torch.manual_seed(0)
    fused = GRU(I, H, num_layers=3, dropout=0.5)
    reference = GRU(I, H, num_layers=3, dropout=0.5, fused=False)
    reference.load_state_dict(fused.state_dict())
    x = torch.randn(T, B, I)
    fused.eval(), reference.eval()
    with torch.no_grad():
        assert max_diff(fused(x), reference(x)) <= TOL
    fused.train()
    a, b = fused(x)[0], fused(x)[0]
    assert (a - b).abs().max() > 0  # dropout between layers is on in training


def test_gradient_clipping_keeps_exploding_rnn_finite():
    def make():
        torch.manual_seed(0)
        rnn = RNN(4, 16, nonlinearity="relu")
        with torch.no_grad():
            rnn.weight_hh_l0.copy_(1.5 * torch.eye(16))  # spectral radius 1.5: explodes over 40 steps
        return rnn, nn.Linear(16, 1)

    x, y = torch.rand(40, 8, 4), torch.rand(8, 1)

    def train(clip: bool, steps: int = 5) -> tuple[float, list[torch.Tensor]]:
        rnn, head = make()
        params = list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.SGD(params, lr=0.01)
        first_norm = None
        for _ in range(steps):
            opt.zero_grad()
            out, _ = rnn(x)
            ((head(out[-1]) - y) ** 2).mean().backward()
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm=1.0 if clip else float("inf"))
            first_norm = norm if first_norm is None else first_norm
            if clip:
                assert torch.isfinite(norm)
                assert torch.sqrt(sum(p.grad.pow(2).sum() for p in params)) <= 1.0 + 1e-4
            opt.step()
        return float(first_norm), params

    raw, unclipped = train(clip=False)
    assert raw > 1e12  # the gradient really explodes
    assert not all(torch.isfinite(p).all() for p in unclipped)  # and blows the weights up unclipped
    _, clipped = train(clip=True)
    assert all(torch.isfinite(p).all() for p in clipped)


def test_errors_are_clear():
    mod = PeepholeLSTM(I, H, num_layers=2)
    with pytest.raises(RuntimeError, match="input_size. Expected 5"):
        mod(torch.randn(T, B, I + 1))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        mod(torch.randn(T, B, I), (torch.zeros(1, B, H), torch.zeros(2, B, H)))
    with pytest.warns(UserWarning, match="dropout"):
        GRU(I, H, dropout=0.3)


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm"])
def test_single_step_and_single_sequence(kind):
    torch.manual_seed(0)
    ref, mod = pair(kind, bidirectional=True)
    for shape in [(1, B, I), (T, 1, I)]:
        x = torch.randn(shape)
        expected, expected_grads = run(ref, x, None, packed=False, batch_first=False)
        got, got_grads = run(mod, x, None, packed=False, batch_first=False)
        assert max_diff(expected, got) <= TOL and max_diff(expected_grads, got_grads) <= TOL
