"""The CNN family (issue 3): torchvision parity, per-model smoke tests, small-input
stems, CIFAR ResNets, GoogLeNet's auxiliary heads and the layer-table exercise.

torchvision is the reference here and only here: the zoo models never import it.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import zoo
from zoo.errors import ConfigError
from zoo.models.googlenet import GoogLeNetOutputs
from zoo.models.resnet import BasicBlock, ZeroPadShortcut
from zoo.registry import get_model_entry, model_accepts
from zoo.summary import summary

CNN_FAMILIES = {"lenet", "alexnet", "vgg", "resnet", "resnet_cifar", "googlenet"}
CNNS = [n for n in zoo.list_models() if get_model_entry(n).family in CNN_FAMILIES]

VGGS = [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]
PARITY = ["alexnet", *VGGS, "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "googlenet"]
CIFAR_RESNETS = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]


def test_every_family_is_registered():
    assert set(PARITY + CIFAR_RESNETS) <= set(CNNS)
    for name in PARITY:
        assert model_accepts(name, "stem"), name
        assert get_model_entry(name).input_size == (3, 224, 224)
    for name in CIFAR_RESNETS:
        assert get_model_entry(name).input_size == (3, 32, 32)


# ---------------------------------------------------------------------------------
# Parameter counts
# ---------------------------------------------------------------------------------
PARAMS = {
    "alexnet": 61_100_840,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "googlenet": 13_004_888,  # with both auxiliary heads, the builder's default
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_count(name):
    assert zoo.model_info(name)["params"] == PARAMS[name]


def test_googlenet_without_aux_heads_has_the_published_count():
    with torch.device("meta"):
        model = zoo.create_model("googlenet", aux_logits=False)
    assert sum(p.numel() for p in model.parameters()) == 6_624_904


# ---------------------------------------------------------------------------------
# torchvision parity at ImageNet defaults
# ---------------------------------------------------------------------------------
def _randomize(model: nn.Module, gen: torch.Generator) -> None:
    """Fresh random weights in every tensor, including the batch-norm affine terms.

    torchvision's own init leaves every BN at weight 1, bias 0, mean 0, var 1, under
    which two swapped BN layers would go unnoticed; here every one differs.
    He-uniform weights keep ReLU activations O(1) so that 1e-5 is a meaningful bound.
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = math.sqrt(6.0 / m.weight[0].numel())
                m.weight.uniform_(-bound, bound, generator=gen)
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.1, 0.1, generator=gen)
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.num_batches_tracked.zero_()


def _calibrate_batch_norm(model: nn.Module, size: int, gen: torch.Generator) -> None:
    """Set every BN's running statistics to those of one random image (momentum 1).

    With unit statistics, 50 residual blocks in eval mode grow activations by ~1e8;
    calibrated statistics keep the logits O(1-10), as in a trained network. The
    image has the tested size: a 64 px one leaves 2x2 maps in the last stage, too
    few pixels for a variance estimate, and the logits reach 1e3 again.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        return
    for m in norms:
        m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(torch.randn(1, 3, size, size, generator=gen))
    for m in norms:
        m.momentum = 0.1


def _torchvision_reference(name: str, seed: int = 0, **kwargs) -> nn.Module:
    if name == "googlenet":
        kwargs.setdefault("init_weights", False)  # our _randomize replaces it; silences a FutureWarning
    # Built on the meta device and filled once by _randomize: torchvision's own init
    # of a VGG draws 240M random numbers, twice the cost of the forward pass we test.
    with torch.device("meta"):
        ref = tvm.get_model(name, weights=None, **kwargs)
    ref.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    _randomize(ref, gen)
    _calibrate_batch_norm(ref, 224, gen)
    return ref.eval()


@pytest.fixture(scope="module")
def imagenet_batch():
    return torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", PARITY)
def test_torchvision_parity(name, imagenet_batch):
    ref = _torchvision_reference(name)
    with torch.device("meta"):
        ours = zoo.create_model(name)  # defaults: num_classes=1000, in_chans=3, stem="imagenet"
    ref_sd = ref.state_dict()
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert ours_shapes == {k: tuple(v.shape) for k, v in ref_sd.items()}
    assert list(ours.state_dict()) == list(ref_sd)  # same order too: same module layout
    ours.load_state_dict(ref_sd, strict=True, assign=True)
    ours.eval()
    with torch.no_grad():
        expected = ref(imagenet_batch)
        actual = ours(imagenet_batch)
    assert actual.shape == (1, 1000)
    # Guard the meaning of the bound: logits neither vanishing nor exploding.
    assert 1e-2 < expected.abs().max().item() < 1e3
    assert (actual - expected).abs().max().item() <= 1e-5


def test_googlenet_training_outputs_match_torchvision():
    """Train mode: batch statistics, dropout, both auxiliary heads and transform_input."""
    ref = _torchvision_reference("googlenet", transform_input=True).train()
    ours = zoo.create_model("googlenet", transform_input=True)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.train()
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.manual_seed(3)  # the same dropout masks, drawn in the same order
        expected = ref(x)
        torch.manual_seed(3)
        actual = ours(x)
    assert isinstance(actual, GoogLeNetOutputs) and isinstance(actual, tuple)
    assert actual._fields == ("logits", "aux_logits2", "aux_logits1")
    for a, e in zip(actual, expected):
        assert a.shape == (2, 1000)
        assert (a - e).abs().max().item() <= 1e-5


class _OpRecorder(TorchDispatchMode):
    """Records every aten op with its tensor arguments' shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, tuple]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        shapes = tuple(tuple(t.shape) for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor))
        self.ops.append((str(func), shapes))
        return func(*args, **(kwargs or {}))


def _train_step_ops(model: nn.Module) -> list[tuple[str, tuple]]:
    x = torch.randn(2, 3, 224, 224, device="meta")
    y = torch.zeros(2, dtype=torch.long, device="meta")
    recorder = _OpRecorder()
    with recorder:
        outs = _outputs(model.train()(x))
        loss = F.cross_entropy(outs[0], y) + 0.3 * sum(F.cross_entropy(o, y) for o in outs[1:])
        loss.backward()
    return recorder.ops


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "vgg11_bn", "resnet18", "resnet50", "googlenet"])
def test_train_step_runs_the_same_aten_ops_as_torchvision(name):
    """Forward and backward dispatch the very same aten ops, in order, on the same
    shapes: the zoo model does exactly torchvision's work, so it cannot be slower
    (benchmarks/cnn_speed.py measures it). Traced on the meta device, which costs
    no arithmetic. One model per block type; the deeper ones repeat the same code."""
    with torch.device("meta"):
        ref = tvm.get_model(name, weights=None, **({"init_weights": False} if name == "googlenet" else {}))
        ours = zoo.create_model(name)
    expected, actual = _train_step_ops(ref), _train_step_ops(ours)
    assert len(expected) > 100
    assert actual == expected


def test_zoo_models_do_not_use_torchvision():
    root = Path(zoo.__file__).parent
    for path in [root / "summary.py", *(root / "models").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] == "torchvision" for m in mods), path


# ---------------------------------------------------------------------------------
# Every registered CNN on small inputs
# ---------------------------------------------------------------------------------
def _small_kwargs(name: str, **kwargs):
    if model_accepts(name, "stem"):
        kwargs["stem"] = "small"
    return kwargs


def _outputs(out):
    return list(out) if isinstance(out, tuple) else [out]


# The paper-faithful AlexNet and GoogLeNet take their papers' input size only (tests/test_paper_variants.py).
@pytest.mark.parametrize("name", [n for n in CNNS if model_accepts(n, "stem") or get_model_entry(n).input_size[-1] == 32])
def test_eval_on_cifar_sized_input(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, **_small_kwargs(name, num_classes=10, in_chans=3)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor)  # eval mode: logits only, even for GoogLeNet
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def _feature_shapes(model: nn.Module, size: int, *names: str) -> list[tuple[int, ...]]:
    rows = {r.name: r for r in summary(model, (model_in_chans(model), size, size), all_layers=True).rows}
    return [rows[n].output_shape for n in names]


def model_in_chans(model: nn.Module) -> int:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels


@pytest.mark.parametrize("size", [28, 32])
def test_small_stems_keep_the_documented_map_sizes(size):
    last = {28: 4, 32: 4}[size]
    resnet = zoo.create_model("resnet18", stem="small", num_classes=10)
    assert resnet.conv1.kernel_size == (3, 3) and resnet.conv1.stride == (1, 1)
    assert isinstance(resnet.maxpool, nn.Identity)
    assert _feature_shapes(resnet, size, "layer1.1.bn2", "layer4.1.bn2") == [(64, size, size), (512, last, last)]

    alex = zoo.create_model("alexnet", stem="small", num_classes=10)
    assert _feature_shapes(alex, size, "features.12") == [(256, 4, 4)]
    assert alex.classifier[1].in_features == 256 * 4 * 4

    vgg = zoo.create_model("vgg11_bn", stem="small", num_classes=10)
    assert _feature_shapes(vgg, size, "features.28") == [(512, 1, 1)]

    goog = zoo.create_model("googlenet", stem="small", num_classes=10)
    half = {28: 14, 32: 16}[size]
    assert _feature_shapes(goog, size, "maxpool2", "maxpool3", "maxpool4") == [
        (192, half, half), (480, half // 2, half // 2), (832, 4, 4)]


def test_small_stem_keeps_the_state_dict_layout():
    """Same keys; only the first convolution (and the classifier's input width) change shape."""
    expected = {
        "resnet50": {"conv1.weight": (64, 3, 3, 3)},
        "googlenet": {"conv1.conv.weight": (64, 3, 3, 3)},
        "alexnet": {"features.0.weight": (64, 3, 3, 3), "classifier.1.weight": (4096, 256 * 4 * 4)},
        "vgg16": {"classifier.0.weight": (4096, 512)},
    }
    for name, changes in expected.items():
        with torch.device("meta"):
            big = zoo.create_model(name).state_dict()
            small = zoo.create_model(name, stem="small").state_dict()
        assert list(big) == list(small)
        changed = {k: tuple(small[k].shape) for k in big if big[k].shape != small[k].shape}
        assert changed == changes, name


@pytest.mark.parametrize("name", ["alexnet", "vgg11", "resnet18", "googlenet"])
def test_unknown_stem_is_refused(name):
    with pytest.raises(ValueError, match="stem"):
        zoo.create_model(name, stem="tiny")


def test_in_chans_changes_only_the_first_convolution():
    with torch.device("meta"):
        rgb = zoo.create_model("resnet18").state_dict()
        gray = zoo.create_model("resnet18", in_chans=1, num_classes=7).state_dict()
    assert gray["conv1.weight"].shape == (64, 1, 7, 7)
    assert gray["fc.weight"].shape == (7, 512)
    assert [k for k in rgb if rgb[k].shape != gray[k].shape] == ["conv1.weight", "fc.weight", "fc.bias"]


# ---------------------------------------------------------------------------------
# GoogLeNet heads
# ---------------------------------------------------------------------------------
def test_googlenet_returns_aux_logits_only_in_training():
    model = zoo.create_model("googlenet", stem="small", num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert [o.shape for o in out] == [(2, 10)] * 3
    assert isinstance(model.eval()(x), torch.Tensor)

    no_aux = zoo.create_model("googlenet", stem="small", num_classes=10, aux_logits=False).train()
    assert no_aux.aux1 is None and no_aux.aux2 is None
    assert isinstance(no_aux(x), torch.Tensor)


def test_googlenet_transform_input_needs_rgb():
    with pytest.raises(ValueError, match="in_chans=3"):
        zoo.create_model("googlenet", transform_input=True, in_chans=1)


# ---------------------------------------------------------------------------------
# ResNet details
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CIFAR_RESNETS)
def test_cifar_resnet_has_6n_plus_2_weighted_layers(name):
    depth = int(name.removeprefix("resnet"))
    with torch.device("meta"):
        model = zoo.create_model(name)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == depth  # option A shortcuts add no layers
    widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert sorted(set(widths)) == [16, 32, 64]
    assert model.fc.out_features == 10


def test_cifar_resnet_rejects_other_depths():
    from zoo.models.resnet import CifarResNet

    with pytest.raises(ValueError, match="6n\\+2"):
        CifarResNet(21)


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 8, 8)
    y = ZeroPadShortcut(stride=2, extra_channels=16)(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert not y[:, 16:].any()
    model = zoo.create_model("resnet20")
    assert isinstance(model.layer2[0].downsample, ZeroPadShortcut)
    assert model.layer1[0].downsample is None


def test_cifar_resnet_spatial_sizes():
    model = zoo.create_model("resnet20")
    shapes = _feature_shapes(model, 32, "layer1.2.bn2", "layer2.2.bn2", "layer3.2.bn2")
    assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_zero_init_residual_makes_every_block_an_identity_branch():
    for name in ("resnet18", "resnet50", "resnet20"):
        model = zoo.create_model(name, zero_init_residual=True)
        last_norms = [b.bn2 if isinstance(b, BasicBlock) else b.bn3 for b in model.modules()
                      if type(b).__name__ in ("BasicBlock", "Bottleneck")]
        assert last_norms and all(not bn.weight.any() for bn in last_norms)


def test_resnet20_overfits_a_small_batch():
    """The CIFAR ResNet actually learns: SGD drives the loss on 16 images toward zero."""
    torch.manual_seed(0)
    model = zoo.create_model("resnet20").train()
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    first = None
    for _ in range(25):
        loss = F.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 2.0 and loss.item() < 0.2 * first


# ---------------------------------------------------------------------------------
# The layer table (the lecture exercise)
# ---------------------------------------------------------------------------------
EXERCISE = [
    # kind, output shape, activations, params
    ("CONV", (8, 28, 28), 6_272, 608),
    ("POOL", (8, 14, 14), 1_568, 0),
    ("CONV", (16, 10, 10), 1_600, 3_216),
    ("POOL", (16, 5, 5), 400, 0),
    ("FC", (120,), 120, 48_120),
    ("FC", (84,), 84, 10_164),
    ("FC", (10,), 10, 850),
]


def _exercise_model():
    return zoo.create_model("lenet5", in_chans=3, channels=[8, 16], activation="relu", pool="max")


def test_summary_lecture_exercise_rows():
    s = summary(_exercise_model(), (3, 32, 32))
    assert [(r.kind, r.output_shape, r.activations, r.params) for r in s.rows] == EXERCISE
    assert s.total_params == s.trainable_params == sum(e[3] for e in EXERCISE) == 62_958
    # 2 x multiply-adds: conv 8*28*28*75 + 16*10*10*200, fc 400*120 + 120*84 + 84*10.
    assert s.flops == 2 * (8 * 28 * 28 * 75 + 16 * 10 * 10 * 200 + 400 * 120 + 120 * 84 + 84 * 10)
    assert sum(r.flops for r in s.rows) == s.flops
    assert s.output_shape == (10,)


def test_summary_format_shows_the_exercise_table():
    text = summary(_exercise_model(), (3, 32, 32)).format()
    lines = [line.split() for line in text.splitlines()]
    table = [cells for cells in lines if cells and cells[0].startswith(("features.", "classifier."))]
    got = [(c[1], " ".join(c[3:-3]), c[-3], c[-2]) for c in table]
    assert got == [
        ("CONV", "(8, 28, 28)", "6,272", "608"),
        ("POOL", "(8, 14, 14)", "1,568", "0"),
        ("CONV", "(16, 10, 10)", "1,600", "3,216"),
        ("POOL", "(16, 5, 5)", "400", "0"),
        ("FC", "(120)", "120", "48,120"),
        ("FC", "(84)", "84", "10,164"),
        ("FC", "(10)", "10", "850"),
    ]
    assert "Total params:          62,958" in text
    assert "1,698,640" in text  # FLOPs


def test_summary_all_layers_and_state():
    model = _exercise_model().train()
    s = summary(model, (3, 32, 32), batch_size=3, all_layers=True)
    assert model.training  # mode restored
    assert [r.kind for r in s.rows] == ["CONV", "ACT", "POOL", "CONV", "ACT", "POOL", "FLAT",
                                        "FC", "ACT", "FC", "ACT", "FC"]
    assert s.rows[1].output_shape == (8, 28, 28)  # per sample at batch 3
    assert s.folded == 0
    assert summary(model, (3, 32, 32)).folded == 5


def test_summary_params_add_up_even_for_layers_that_did_not_run():
    model = zoo.create_model("googlenet", stem="small", num_classes=10)
    s = summary(model, (3, 32, 32))
    assert sum(r.params for r in s.rows) == s.total_params == sum(p.numel() for p in model.parameters())
    not_run = [r.name for r in s.rows if r.output_shape is None]
    assert not_run and all(n.startswith(("aux1.", "aux2.")) for n in not_run)
    assert sum(r.flops for r in s.rows) == s.flops > 0
    nb = summary(zoo.create_model("resnet20"), (3, 32, 32))
    # Paper, section 4.2: ResNet-20 costs about 41M multiply-adds.
    assert 40e6 < nb.macs < 42e6
    assert nb.total_params == 269_722 and nb.non_trainable_params == 0


def test_zoo_summary_is_callable_however_it_was_imported():
    import zoo.summary as module  # the package attribute is now the module

    model = _exercise_model()
    assert zoo.summary(model, (3, 32, 32)).total_params == 62_958
    assert zoo.summary(model, (3, 32, 32)).total_params == module.summary(model, (3, 32, 32)).total_params


def test_summary_wrong_input_is_a_clear_error():
    with pytest.raises(ConfigError, match="cannot take an input of size \\(3, 30, 30\\)"):
        summary(_exercise_model(), (3, 30, 30))
    with pytest.raises(ConfigError, match="channels"):
        summary(zoo.create_model("resnet20"), (1, 32, 32))


# ---------------------------------------------------------------------------------
# Heavy extras
# ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "lr", "drop"),
    [
        # AlexNet keeps torchvision's (PyTorch's default) init, under which the signal
        # shrinks ~2x per layer: it starts slowly and is unstable at lr 0.01 here.
        ("alexnet", 0.003, 0.75),
        ("vgg11_bn", 0.01, 0.1),
        ("resnet18", 0.01, 0.1),
        ("googlenet", 0.01, 0.1),
    ],
)
def test_small_stem_models_learn_a_simple_task(name, lr, drop):
    """30 SGD steps on 16 noisy copies of 4 class templates cut the loss by ``drop``."""
    torch.manual_seed(0)
    model = zoo.create_model(name, **_small_kwargs(name, num_classes=10)).train()
    gen = torch.Generator().manual_seed(0)
    templates = torch.randn(4, 3, 32, 32, generator=gen)
    y = torch.arange(16) % 4
    x = templates[y] + 0.5 * torch.randn(16, 3, 32, 32, generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(30):
        outs = _outputs(model(x))
        main = F.cross_entropy(outs[0], y)
        loss = main + 0.3 * sum(F.cross_entropy(o, y) for o in outs[1:])
        losses.append(main.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < drop * losses[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "googlenet"])
def test_torchvision_parity_at_batch_4_in_train_mode_batch_norm(name):
    """BN in training mode (batch statistics) must agree too, logits and gradients."""
    ref = _torchvision_reference(name, aux_logits=False) if name == "googlenet" else _torchvision_reference(name)
    ours = zoo.create_model(name, **({"aux_logits": False} if name == "googlenet" else {}))
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.train(), ours.train()
    x = torch.randn(4, 3, 224, 224)
    torch.manual_seed(0)
    a = ref(x)
    torch.manual_seed(0)
    b = ours(x)
    assert (a - b).abs().max().item() <= 1e-5
    a.sum().backward(), b.sum().backward()
    for (n, p), q in zip(ref.named_parameters(), ours.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=n)
