"""zoo.layers.convlstm: shapes, states, peepholes, and the 1x1 reduction to an LSTM."""

from __future__ import annotations

import pytest
import torch

from zoo.layers import ConvLSTM, ConvLSTMCell, PeepholeLSTM

TOL = 1e-5


def test_shapes_and_states():
    torch.manual_seed(0)
    model = ConvLSTM(3, [8, 5], kernel_size=[3, 5], batch_first=True)
    x = torch.randn(2, 4, 3, 6, 7)  # B, T, C, H, W
    out, states = model(x)
    assert out.shape == (2, 4, 5, 6, 7)
    assert [tuple(h.shape) for h, _ in states] == [(2, 8, 6, 7), (2, 5, 6, 7)]
    assert [tuple(c.shape) for _, c in states] == [(2, 8, 6, 7), (2, 5, 6, 7)]
    assert torch.equal(out[:, -1], states[-1][0])  # the last output is the last hidden state
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    time_major = ConvLSTM(3, [8, 5], kernel_size=[3, 5])
    time_major.load_state_dict(model.state_dict())
    assert (time_major(x.transpose(0, 1))[0].transpose(0, 1) - out).abs().max() <= TOL


def test_initial_state_carries_over():
    torch.manual_seed(0)
    model = ConvLSTM(2, [4, 3], kernel_size=3, peephole=True)
    x = torch.randn(6, 2, 2, 5, 5)
    full, full_states = model(x)
    first, states = model(x[:3])
    second, last_states = model(x[3:], states)
    assert (torch.cat([first, second]) - full).abs().max() <= TOL
    for (h1, c1), (h2, c2) in zip(full_states, last_states):
        assert (h1 - h2).abs().max() <= TOL and (c1 - c2).abs().max() <= TOL


def test_layer_equals_cell_loop():
    torch.manual_seed(0)
    model = ConvLSTM(2, 4, kernel_size=3)
    cell = model.cells[0]
    x = torch.randn(5, 2, 2, 6, 6)
    state = None
    hs = []
    for t in range(5):
        state = cell(x[t], state)
        hs.append(state[0])
    assert (model(x)[0] - torch.stack(hs)).abs().max() <= TOL


def test_peepholes_change_the_output_and_zero_peepholes_drop_out():
    torch.manual_seed(0)
    with_peep = ConvLSTM(2, 4, kernel_size=3, peephole=True)
    without = ConvLSTM(2, 4, kernel_size=3, peephole=False)
    missing = without.load_state_dict(with_peep.state_dict(), strict=False)
    assert sorted(missing.unexpected_keys) == ["cells.0.weight_cf", "cells.0.weight_ci", "cells.0.weight_co"]
    x = torch.randn(5, 2, 2, 6, 6)
    assert (with_peep(x)[0] - without(x)[0]).abs().max() > 1e-3
    with torch.no_grad():
        for name in ("weight_ci", "weight_cf", "weight_co"):
            getattr(with_peep.cells[0], name).zero_()
    assert (with_peep(x)[0] - without(x)[0]).abs().max() <= TOL


def test_peephole_shapes():
    per_channel = ConvLSTMCell(3, 4, 3)
    per_location = ConvLSTMCell(3, 4, 3, spatial_size=(5, 6))
    assert per_channel.weight_ci.shape == (4, 1, 1)
    assert per_location.weight_co.shape == (4, 5, 6)
    h, c = per_location(torch.randn(2, 3, 5, 6))
    assert h.shape == c.shape == (2, 4, 5, 6)
    with pytest.raises(RuntimeError):
        per_location(torch.randn(2, 3, 7, 7))  # per-location peepholes fix the frame size
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(3, 4, 2)


@pytest.mark.parametrize("spatial_size", [None, (1, 1)])
def test_1x1_convlstm_on_1x1_frames_is_a_peephole_lstm(spatial_size):
    torch.manual_seed(0)
    inp, hid, steps, batch = 3, 5, 6, 4
    conv = ConvLSTM(inp, [hid, hid], kernel_size=1, spatial_size=spatial_size)
    with torch.no_grad():
        for p in conv.parameters():
            p.uniform_(-0.8, 0.8)  # peepholes included, big enough to matter
    lstm = PeepholeLSTM(inp, hid, num_layers=2)
    mapped = {}
    for k, cell in enumerate(conv.cells):
        mapped[f"weight_ih_l{k}"] = cell.weight_ih[:, :, 0, 0]
        mapped[f"weight_hh_l{k}"] = cell.weight_hh[:, :, 0, 0]
        mapped[f"bias_ih_l{k}"] = cell.bias
        mapped[f"bias_hh_l{k}"] = torch.zeros_like(cell.bias)
        for name in ("ci", "cf", "co"):
            mapped[f"weight_{name}_l{k}"] = getattr(cell, f"weight_{name}").reshape(hid)
    lstm.load_state_dict(mapped)
    x = torch.randn(steps, batch, inp)
    x_conv = x.clone().view(steps, batch, inp, 1, 1).requires_grad_()
    x_lstm = x.clone().requires_grad_()
    out_conv, states = conv(x_conv)
    out_lstm, (h_n, c_n) = lstm(x_lstm)
    assert (out_conv.view(steps, batch, hid) - out_lstm).abs().max() <= TOL
    for k in range(2):
        assert (states[k][0].view(batch, hid) - h_n[k]).abs().max() <= TOL
        assert (states[k][1].view(batch, hid) - c_n[k]).abs().max() <= TOL
    weights = torch.randn(steps, batch, hid)
    (out_conv.view(steps, batch, hid) * weights).sum().backward()
    (out_lstm * weights).sum().backward()
    assert (x_conv.grad.view(steps, batch, inp) - x_lstm.grad).abs().max() <= TOL
    assert (conv.cells[0].weight_ci.grad.reshape(hid) - lstm.weight_ci_l0.grad).abs().max() <= TOL


def test_stateless_first_layer():
    """in_channels=0: a cell driven by its state alone (Shi et al.'s forecaster)."""
    torch.manual_seed(0)
    model = ConvLSTM(0, [4], kernel_size=3)
    h0 = torch.randn(2, 4, 5, 5)
    out, _ = model(torch.zeros(3, 2, 0, 5, 5), [(h0, torch.zeros_like(h0))])
    assert out.shape == (3, 2, 4, 5, 5)
    assert out[0].abs().sum() > 0
