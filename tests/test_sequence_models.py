"""Task models of the recurrent family (rnn, gru, lstm, convlstm) and TextCNN."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from zoo.engine.config import load_config
from zoo.registry import get_model_entry

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RECURRENT = ["rnn", "gru", "lstm"]


def test_registered_with_info():
    names = zoo.list_models()
    for name in [*RECURRENT, "convlstm", "textcnn"]:
        assert name in names
        info = zoo.model_info(name)  # builds at the defaults on the meta device
        assert info["params"] > 0 and info["paper"]
    assert zoo.model_info("lstm")["input_size"] == [28, 28]
    assert zoo.model_info("convlstm")["input_size"] == [10, 1, 64, 64]


@pytest.mark.parametrize("name", RECURRENT)
def test_defaults_classify_mnist_rows(name):
    torch.manual_seed(0)
    model = zoo.create_model(name)
    x = torch.randn(3, 28, 28)
    out = model(x)
    assert out.shape == (3, 10)
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", RECURRENT)
def test_token_classification_ignores_padding(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, vocab_size=50, num_classes=3, embed_dim=8, hidden_size=6,
                             num_layers=2, bidirectional=True).eval()
    lengths = torch.tensor([5, 2, 7])
    tokens = torch.randint(1, 50, (3, 7))
    tokens[torch.arange(7) >= lengths.unsqueeze(1)] = 0
    out = model(tokens, lengths)
    assert out.shape == (3, 3)
    longer = torch.cat([tokens, torch.zeros(3, 4, dtype=torch.long)], 1)  # more padding
    assert (model(longer, lengths) - out).abs().max() <= 1e-5
    assert (model(longer) - out).abs().max() <= 1e-5  # lengths from the last non-pad token
    alone = model(tokens[1:2, :2], lengths[1:2])  # a sequence alone, no padding at all
    assert (alone - out[1:2]).abs().max() <= 1e-5


def test_float_features_with_lengths_and_bidirectional():
    torch.manual_seed(0)
    model = zoo.create_model("gru", input_size=4, num_classes=2, hidden_size=5, bidirectional=True).eval()
    x = torch.randn(2, 6, 4)
    lengths = torch.tensor([6, 3])
    out = model(x, lengths)
    assert (model(x[1:, :3]) - out[1:]).abs().max() <= 1e-5


@pytest.mark.parametrize("name", RECURRENT)
def test_language_model(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, task="lm", vocab_size=30, embed_dim=12, hidden_size=12, num_layers=2,
                             tie_weights=True)
    tokens = torch.randint(0, 30, (2, 9))
    logits = model(tokens)
    assert logits.shape == (2, 9, 30)
    assert model.head.weight is model.embedding.weight
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens.flatten()).backward()
    assert model.embedding.weight.grad is not None
    # Causal: a token never influences the logits of earlier positions.
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 30
    model.eval()
    assert (model(changed)[:, :5] - model(tokens)[:, :5]).abs().max() == 0
    with pytest.raises(ValueError, match="bidirectional"):
        zoo.create_model(name, task="lm", vocab_size=30, bidirectional=True)
    with pytest.raises(ValueError, match="embed_dim == hidden_size"):
        zoo.create_model(name, task="lm", vocab_size=30, embed_dim=8, hidden_size=12, tie_weights=True)


@pytest.mark.parametrize("name", RECURRENT)
def test_regression_adding_problem_shapes(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, task="regression", input_size=2, hidden_size=8)
    x = torch.rand(4, 20, 2)
    y = model(x)
    assert y.shape == (4,)
    torch.nn.functional.mse_loss(y, torch.rand(4)).backward()


def test_lstm_peephole_option():
    with_peep = zoo.create_model("lstm")
    without = zoo.create_model("lstm", peephole=False)
    assert "rnn.weight_ci_l0" in dict(with_peep.named_parameters())
    assert not any("weight_c" in n for n, _ in without.named_parameters())
    assert zoo.create_model("gru", reset_after=False).rnn.reset_after is False
    assert zoo.create_model("rnn", nonlinearity="relu").rnn.nonlinearity == "relu"


def test_convlstm_forecaster_shapes_and_gradients():
    torch.manual_seed(0)
    model = zoo.create_model("convlstm", hidden_channels=(8, 4), kernel_size=3)
    frames = torch.rand(2, 10, 1, 16, 16)
    out = model(frames)
    assert out.shape == (2, 10, 1, 16, 16)
    assert out.min() >= 0 and out.max() <= 1  # intensities, like the target frames
    torch.nn.functional.mse_loss(out, torch.rand_like(out)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    logits = zoo.create_model("convlstm", hidden_channels=(8, 4), kernel_size=3, output="logits")
    logits.load_state_dict(model.state_dict())
    assert (torch.sigmoid(logits(frames)) - out).abs().max() <= 1e-6
    five = zoo.create_model("convlstm", hidden_channels=(4,), kernel_size=3, frames_out=5)
    assert five(frames).shape == (2, 5, 1, 16, 16)


def test_convlstm_defaults_on_small_frames():
    """The paper's network at its defaults; small frames keep the test fast (64x64 is slow)."""
    model = zoo.create_model("convlstm")
    with torch.no_grad():
        assert model(torch.rand(1, 10, 1, 8, 8)).shape == (1, 10, 1, 8, 8)


@pytest.mark.slow
def test_convlstm_defaults_on_moving_mnist_frames():
    model = zoo.create_model("convlstm")
    frames = torch.rand(1, 10, 1, 64, 64)
    out = model(frames)
    assert out.shape == frames.shape
    out.mean().backward()


# ----------------------------------------------------------------------------- TextCNN
def test_textcnn_shapes_and_short_sentences():
    torch.manual_seed(0)
    model = zoo.create_model("textcnn", vocab_size=100, embed_dim=16, maps=4)
    assert model(torch.randint(1, 100, (3, 12))).shape == (3, 2)
    assert model(torch.randint(1, 100, (3, 1))).shape == (3, 2)  # shorter than every filter
    defaults = zoo.create_model("textcnn")
    assert sum(p.numel() for p in defaults.parameters()) == 20000 * 300 + 100 * 300 * 12 + 300 + 300 * 2 + 2


def test_textcnn_padding_never_changes_the_result():
    torch.manual_seed(0)
    model = zoo.create_model("textcnn", vocab_size=100, embed_dim=16, maps=4).eval()
    with torch.no_grad():
        for conv in model.convs:
            conv.bias.fill_(5.0)  # an all-padding window would win the max if it were counted
    tokens = torch.randint(1, 100, (2, 6))
    tokens[1, 3:] = 0
    out = model(tokens)
    padded = torch.cat([tokens, torch.zeros(2, 10, dtype=torch.long)], 1)
    assert (model(padded) - out).abs().max() <= 1e-5
    assert (model(tokens[1:, :3]) - out[1:]).abs().max() <= 1e-5
    assert (model(padded, torch.tensor([6, 3])) - out).abs().max() <= 1e-5


def test_textcnn_max_norm_after_optimizer_step():
    torch.manual_seed(0)
    model = zoo.create_model("textcnn", vocab_size=100, embed_dim=16, maps=4, num_classes=3)
    opt = torch.optim.SGD(model.parameters(), lr=100.0)  # big steps push the norms past 3
    tokens, labels = torch.randint(1, 100, (8, 10)), torch.randint(0, 3, (8,))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(tokens), labels).backward()
        opt.step()
        assert model.fc.weight.norm(dim=1).max() > 3.0
        model.after_optimizer_step()
        assert model.fc.weight.norm(dim=1).max() <= 3.0 + 1e-5
    small = zoo.create_model("textcnn", vocab_size=100, embed_dim=16, maps=4)
    before = small.fc.weight.detach().clone()
    small.after_optimizer_step()  # norms already below 3: untouched
    assert torch.equal(before, small.fc.weight)
    free = zoo.create_model("textcnn", vocab_size=100, embed_dim=16, maps=4, max_norm=None)
    with torch.no_grad():
        free.fc.weight.mul_(100)
    free.after_optimizer_step()
    assert free.fc.weight.norm(dim=1).max() > 3.0


# ----------------------------------------------------------------------------- configs
MY_CONFIGS = {
    "rnn_seq_mnist": ("rnn", "seq_mnist"),
    "gru_seq_mnist": ("gru", "seq_mnist"),
    "lstm_seq_mnist": ("lstm", "seq_mnist"),
    "lstm_adding": ("lstm", "adding"),
    "lstm_tinyshakespeare": ("lstm", "tinyshakespeare"),
    "gru_mr": ("gru", "mr"),
    "lstm_mr": ("lstm", "mr"),
    "textcnn_mr": ("textcnn", "mr"),
    "convlstm_moving_mnist": ("convlstm", "moving_mnist"),
}


@pytest.mark.parametrize("stem", sorted(MY_CONFIGS))
def test_configs_validate_and_build(stem):
    cfg = load_config(CONFIGS / f"{stem}.yaml")
    assert (cfg.model.name, cfg.data.name) == MY_CONFIGS[stem]
    entry = get_model_entry(cfg.model.name)
    # What the dataset would add, by task, then the config's own kwargs.
    data_kwargs = {
        "seq_mnist": {"num_classes": 10, "input_size": 28},
        "adding": {"input_size": 2, "task": "regression"},
        "tinyshakespeare": {"vocab_size": 65, "task": "lm"},
        "mr": {"num_classes": 2, "vocab_size": 1000},
        "moving_mnist": {"in_chans": 1, "frames_out": 10},
    }[cfg.data.name]
    kwargs = {k: v for k, v in data_kwargs.items() if entry.accepts(k)} | cfg.model.kwargs
    with torch.device("meta"):
        zoo.create_model(cfg.model.name, **kwargs)
    if cfg.data.name == "adding":
        assert cfg.data.options["T"] == 200
