"""Every registered model, whatever its family: builds by name, runs forward and
backward, honours num_classes and in_chans, reports its info. A new family must
say here how to feed it (EXAMPLES), or this module fails for it."""

import warnings

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
    then the eval-mode output, then timm's interface (see check_interface)."""
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
    check_interface(name, model, inputs, out)


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


# ---------------------------------------------------------------------------------
# timm's model interface, feature maps and preprocessing, on every model
# ---------------------------------------------------------------------------------
CNN_FAMILIES = ("lenet", "alexnet", "vgg", "resnet", "resnet_cifar", "googlenet")
CNNS = [n for n in ALL if get_model_entry(n).family in CNN_FAMILIES]
CLASSIFIERS = [n for n in ALL if get_model_entry(n).task == "classification"]
# torchvision's tracer, called as a user calls it, takes 5-10 s per graph of these on 2
# busy cores: that check is in the slow set for them (FeatureMaps trace only a dozen nodes).
_SLOW_TRACE = ("resnet101", "resnet152")
# The papers' networks whose layer sizes hold at one input size only.
FIXED_INPUT = ("alexnet_2012", "googlenet_2015")


def test_every_family_is_covered():
    assert {get_model_entry(n).family for n in CNNS} == set(CNN_FAMILIES)
    assert set(CNNS) <= set(CLASSIFIERS) and {"textcnn", "rnn", "gru", "lstm"} <= set(CLASSIFIERS)


def _spatial(maps):
    return [tuple(m.shape[-2:]) for m in maps]


def _check_torchvision_extractor(entry, model, x, out, feats):
    """torchvision's create_feature_extractor, as a user calls it, traces the whole
    forward: the logits and the last feature map come out as the model gives them."""
    from torchvision.models.feature_extraction import create_feature_extractor

    last = model.feature_info[-1]["module"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tracing the model in eval mode")  # GoogLeNet's aux heads
        extractor = create_feature_extractor(model, {entry.classifier[0]: "logits", last: "features"}).eval()
    with torch.no_grad():
        got = extractor(x)
    assert torch.equal(got["logits"], out) and torch.equal(got["features"], feats)


def _check_feature_maps(entry, model, x, feats):
    """A CNN's first conv, and its feature maps (features_only) at every level with
    the declared channels and reductions."""
    from zoo.features import FeatureMaps

    conv = model.get_submodule(entry.first_conv)
    assert isinstance(conv, torch.nn.Conv2d) and conv.in_channels == x.shape[1]
    maps_model = FeatureMaps(model).eval()
    with torch.no_grad():
        maps = maps_model(x)
    assert torch.equal(maps[-1], feats), "the last level is forward_features"
    info = maps_model.feature_info
    assert len(maps) == len(info) == len(model.feature_info) >= 3
    assert [m.shape[1] for m in maps] == info.channels() == [f["num_chs"] for f in model.feature_info]
    assert info.module_name() == [f["module"] for f in model.feature_info]
    reductions = info.reduction()
    assert reductions == sorted(reductions) and reductions[0] >= 1
    if entry.family == "lenet":
        # Fixed 32x32 (28x28 padded) input; the unpadded 5x5 convolutions trim 4 px.
        assert _spatial(maps) == [(28, 28), (10, 10), (5, 5)]
        return
    if entry.name in FIXED_INPUT:
        return
    # The reduction is the stride: r_max more pixels in, r_max / r more out at every level.
    grow = reductions[-1]
    with torch.no_grad():
        bigger = maps_model(torch.randn(1, x.shape[1], x.shape[2] + grow, x.shape[3] + grow))
    for (h, w), (h2, w2), r in zip(_spatial(maps), _spatial(bigger), reductions):
        assert (h2 - h, w2 - w) == (grow // r, grow // r), f"reduction {r}"


def _check_head(model, entry, out, feats):
    """forward == forward_head(forward_features); the classifier reads the pre-logits;
    reset_classifier to 3 classes and to none (timm's identity head)."""
    batch = out.shape[0]
    head = model.get_classifier()
    # nn.Linear, or lenet5_1998's RBF output, which names its width the same way.
    assert head.out_features == model.num_classes == 7
    # The entry's declarations name the model's own modules.
    assert all(model.get_submodule(c).out_features == 7 for c in entry.classifier)
    assert model.get_submodule(entry.classifier[0]) is head
    heads = tuple(f"{c}." for c in entry.classifier)
    backbone = {k: v for k, v in model.state_dict().items() if not k.startswith(heads)}
    with torch.no_grad():
        assert torch.equal(model.forward_head(feats), out)
        pre = model.forward_head(feats, pre_logits=True)
        assert pre.shape == (batch, model.num_features)
        assert torch.equal(head(pre), out)
        model.reset_classifier(3)
        assert model.get_classifier().out_features == 3 and model.num_classes == 3
        assert model.forward_head(feats).shape == (batch, 3)
        model.reset_classifier(0)
        assert isinstance(model.get_classifier(), torch.nn.Identity)
        assert torch.equal(model.forward_head(feats), pre)
    kept = model.state_dict()
    assert all(kept[k] is v or torch.equal(kept[k], v) for k, v in backbone.items()), "the backbone is kept"
    assert not any(k.startswith(heads) for k in kept), "no head left"


def check_interface(name, model, inputs, out):
    """timm's interface on a classifier built with num_classes=7, in eval mode;
    ``out`` is its output on ``inputs``."""
    entry = get_model_entry(name)
    if entry.task != "classification":
        return
    with torch.no_grad():
        feats = model.forward_features(*inputs)
    if entry.family in CNN_FAMILIES:
        _check_feature_maps(entry, model, inputs[0], feats)
        if name not in _SLOW_TRACE:
            _check_torchvision_extractor(entry, model, inputs[0], out, feats)
    _check_head(model, entry, out, feats)


@pytest.mark.slow
@pytest.mark.parametrize("name", _SLOW_TRACE)
def test_torchvision_extractor_deep_resnets(name):
    torch.manual_seed(0)
    entry, kwargs, (x,) = example(name)
    model = zoo.create_model(name, num_classes=7, **kwargs).eval()
    with torch.no_grad():
        out, feats = model(x), model.forward_features(x)
    _check_torchvision_extractor(entry, model, x, out, feats)


@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
def test_create_model_features_only(name, tmp_path):
    """The public path: create_model(features_only=True, out_indices=...), and its checkpoint."""
    from zoo.checkpoint import load_checkpoint, save_checkpoint

    entry, kwargs, (x,) = example(name)
    torch.manual_seed(0)
    full = zoo.create_model(name, **kwargs).eval()
    torch.manual_seed(0)
    feats = zoo.create_model(name, features_only=True, out_indices=[0, -1], **kwargs).eval()
    with torch.no_grad():
        maps = feats(x)
        assert isinstance(maps, list) and len(maps) == 2
        assert torch.equal(maps[-1], full.forward_features(x))
    assert feats.feature_info[1]["index"] == len(full.feature_info) - 1
    assert not any(k.startswith(f"body.{entry.classifier[0]}.") for k in feats.state_dict()), "no head"
    loaded = load_checkpoint(save_checkpoint(feats, tmp_path / "f.safetensors"))
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(loaded(x), maps))


def test_features_only_errors():
    with pytest.raises(zoo.ZooError, match="no feature maps"):
        zoo.create_model("textcnn", features_only=True)
    with pytest.raises(zoo.ZooError, match="out of range.*4 feature levels"):
        zoo.create_model("resnet20", features_only=True, out_indices=[4])
    with pytest.raises(zoo.ZooError, match="forward order"):
        zoo.create_model("resnet20", features_only=True, out_indices=[2, 1])
    with pytest.raises(zoo.ZooError, match="features_only"):
        zoo.create_model("resnet20", out_indices=[1])


def test_num_classes_zero_is_no_head(tmp_path):
    from zoo.checkpoint import load_checkpoint, save_checkpoint

    model = zoo.create_model("resnet20", num_classes=0).eval()
    assert isinstance(model.fc, torch.nn.Identity) and "fc.weight" not in model.state_dict()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 64)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "r.safetensors"))
    assert torch.equal(loaded(x), model(x))
    with pytest.raises(zoo.ZooError, match="task='classification'"):
        zoo.create_model("lstm", task="lm", vocab_size=10, num_classes=0)


@pytest.mark.parametrize("name", ALL)
def test_entry_declarations_and_data_config(name):
    entry = get_model_entry(name)
    cfg = zoo.data_config(name)
    assert set(cfg) == {"input_size", "mean", "std", "interpolation", "crop_pct"}
    assert cfg["input_size"] == entry.input_size
    if entry.task == "classification":
        assert entry.classifier, "a classifier declares its head"
    if entry.family in CNN_FAMILIES:
        assert entry.first_conv and entry.classifier
        channels = entry.input_size[0]
        assert len(cfg["mean"]) == len(cfg["std"]) == channels and min(cfg["std"]) > 0
        big = min(entry.input_size[1:]) >= 224
        assert (cfg["interpolation"], cfg["crop_pct"]) == (("bilinear", 0.875) if big else (None, None))
    else:
        assert cfg["mean"] is None and entry.first_conv is None


def test_data_config_follows_checkpoint_and_channels():
    assert zoo.data_config("lenet5.mnist") == {
        "input_size": (1, 28, 28), "mean": (0.1307,), "std": (0.3081,), "interpolation": None, "crop_pct": None}
    assert zoo.data_config(zoo.create_model("resnet20.cifar10", pretrained=True))["mean"] == (0.4914, 0.4822, 0.4465)
    grey = zoo.data_config(zoo.create_model("resnet18", in_chans=1, num_classes=2, stem="small"))
    assert grey["input_size"] == (1, 224, 224) and grey["mean"] == (0.449,) and grey["std"] == (0.226,)
    four = zoo.data_config(zoo.create_model("resnet20", in_chans=4))
    assert four["mean"] == (0.4914, 0.4822, 0.4465, 0.4914)
    with pytest.raises(zoo.ZooError, match="did you mean resnet20.cifar10"):
        zoo.data_config("resnet20.cifar100")
    with pytest.raises(zoo.ZooError, match="create_model"):
        zoo.data_config(torch.nn.Linear(2, 2))
