"""Every registered model, whatever its family: builds by name, runs forward and
backward, honours num_classes and in_chans, reports its info. A new family must
say here how to feed it (EXAMPLES), or this module fails for it."""

import pytest
import torch

import zoo
from zoo.registry import get_model_entry


def _images(entry, in_chans):
    # MNIST-sized inputs through the small stem; the CIFAR size is in test_cnn.py.
    size = 28 if "stem" in entry.parameters else entry.input_size[-1]
    kwargs = {"stem": "small"} if "stem" in entry.parameters else {}
    return kwargs, (torch.randn(2, in_chans, size, size),)


def _features(entry, in_chans):
    return {"hidden_size": 16}, (torch.randn(2, *entry.input_size),)


def _tokens(entry, in_chans):
    return {"vocab_size": 50, "embed_dim": 16, "maps": 4}, (torch.randint(1, 50, (2, 12)),)


def _frames(entry, in_chans):
    return {"hidden_channels": (8,), "kernel_size": 3}, (torch.rand(1, 10, in_chans, 16, 16),)


def _baseline_frames(entry, in_chans):
    return {}, (torch.rand(1, 10, in_chans or 1, 16, 16),)


EXAMPLES = {  # family -> (small-model kwargs, inputs)
    "lenet": _images,
    "alexnet": _images,
    "vgg": _images,
    "resnet": _images,
    "resnet_cifar": _images,
    "googlenet": _images,
    "recurrent": None,  # decided by task below
    "textcnn": _tokens,
    "baseline": _baseline_frames,  # parameter-free references (copy_last)
}


def example(name, in_chans=None):
    entry = get_model_entry(name)
    assert entry.family in EXAMPLES, f"add an example input for family {entry.family!r} to tests/test_models.py"
    make = EXAMPLES[entry.family] or (_frames if entry.task == "frames" else _features)
    chans = in_chans or (entry.input_size[0] if make is _images else entry.input_size[1] if make is _frames else None)
    kwargs, inputs = make(entry, chans)
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    return entry, kwargs, inputs


ALL = zoo.list_models()


def test_the_zoo_holds_every_family():
    for name in ["lenet5", "alexnet", "vgg16_bn", "resnet50", "resnet20", "googlenet", "rnn", "gru", "lstm",
                 "convlstm", "textcnn"]:
        assert name in ALL


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_num_classes_in_chans(name):
    """One build per model (the big ResNets take seconds to initialize): 7 classes and
    1 input channel where the builder takes them, then train-mode forward and backward,
    then the eval-mode output."""
    torch.manual_seed(0)
    entry = get_model_entry(name)
    in_chans = 1 if "in_chans" in entry.parameters else None
    entry, kwargs, inputs = example(name, in_chans=in_chans)
    if "num_classes" in entry.parameters:
        kwargs["num_classes"] = 7
    model = zoo.create_model(name, **kwargs).train()
    out = model(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    loss = sum(o.float().square().mean() for o in outs)
    if entry.family != "baseline":  # a baseline has nothing to train
        loss.backward()
    for o in outs:
        assert torch.isfinite(o).all()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing[:5]}"
    model.eval()
    with torch.no_grad():
        out = model(*inputs)
    assert isinstance(out, torch.Tensor), "eval mode returns one tensor"
    assert torch.isfinite(out).all()
    if "num_classes" in entry.parameters:
        assert out.shape == (inputs[0].shape[0], 7)
    if entry.task == "frames":
        assert out.shape[:3] == (1, 10, 1)


@pytest.mark.parametrize("name", ALL)
def test_model_info(name):
    info = zoo.model_info(name)
    assert info["params"] > 0 or info["family"] == "baseline"
    assert info["family"] and info["paper"] and info["task"] in ("classification", "frames", "lm", "regression")
    assert len(info["input_size"]) >= 1


def test_summary_feeds_token_ids_and_counts_recurrent_flops():
    table = zoo.summary(zoo.create_model("textcnn", vocab_size=50, embed_dim=8, maps=4), (12,))
    assert table.flops > 0
    rnn = zoo.create_model("rnn", hidden_size=16, num_classes=10)
    # Per step, the input and recurrent products: 2 FLOPs per multiply-add.
    recurrent = 2 * 28 * (28 * 16 + 16 * 16)
    flops = zoo.summary(rnn, (28, 28)).flops
    assert recurrent <= flops <= recurrent + 2 * 16 * 10 + 28 * 16 * 4
    assert rnn.rnn.fused, "summary puts the fast path back"
