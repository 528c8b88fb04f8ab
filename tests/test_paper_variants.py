"""The paper-faithful variants (issue 16): lenet5_1998, alexnet_2012, googlenet_2015.

Parameter counts, map sizes at the papers' input sizes, LeNet-5's C3 table, its
subsampling, squashing and RBF output, local response normalization written out
from the papers' formula, the timm-style head interface, and a few training steps
through the engine's own loss.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.engine.tasks import Classification
from zoo.models.googlenet import GoogLeNet2015, GoogLeNetOutputs
from zoo.models.lenet import LeNet5_1998, rbf_prototypes
from zoo.summary import summary

# LeCun et al. 1998, Table I, as printed: rows are S2 maps 0-5, columns C3 maps 0-15.
TABLE_I = """
X . . . X X X . . X X X X . X X
X X . . . X X X . . X X X X . X
X X X . . . X X X . . X . X X X
. X X X . . X X X X . . X . X X
. . X X X . . X X X X . X X . X
. . . X X X . . X X X X . X X X
"""


def _table_i() -> torch.Tensor:
    return torch.tensor([[c == "X" for c in row.split()] for row in TABLE_I.strip().splitlines()])


@pytest.fixture(scope="module")
def lenet() -> LeNet5_1998:
    torch.manual_seed(0)
    return zoo.create_model("lenet5_1998").eval()


# ---------------------------------------------------------------------------------
# Parameter counts
# ---------------------------------------------------------------------------------
def test_lenet5_1998_has_the_papers_60000_trainable_parameters(lenet):
    per_layer = {name: sum(p.numel() for p in module.parameters() if p.requires_grad)
                 for name, module in [*lenet.features.named_children(), *lenet.head.named_children(),
                                      ("output", lenet.output)]}
    assert {k: v for k, v in per_layer.items() if v} == {
        "c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164}
    assert per_layer["output"] == 0 and not list(lenet.output.parameters())
    assert zoo.model_info("lenet5_1998")["params"] == 60_000


@pytest.mark.parametrize("name, kwargs, count", [
    ("alexnet_2012", {}, 60_965_224),
    ("googlenet_2015", {}, 13_378_280),
    ("googlenet_2015", {"aux_logits": False}, 6_998_552),
])
def test_parameter_counts_are_those_of_the_docstrings(name, kwargs, count):
    with torch.device("meta"):
        model = zoo.create_model(name, **kwargs)
    assert sum(p.numel() for p in model.parameters()) == count
    assert f"{count:,}" in type(model).__doc__
    if not kwargs:
        assert zoo.model_info(name)["params"] == count


def test_alexnet_2012_is_two_towers_where_the_paper_splits():
    with torch.device("meta"):
        f = zoo.create_model("alexnet_2012").features
    convs = [f.conv1, f.conv2, f.conv3, f.conv4, f.conv5]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [c.weight.shape[1] for c in convs] == [3, 48, 256, 192, 192]  # the maps each kernel reads


def test_googlenet_2015_has_no_batch_norm_and_true_5x5_branches():
    with torch.device("meta"):
        model = zoo.create_model("googlenet_2015")
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert all(m.bias is not None for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert [type(m) for m in (model.norm1, model.norm2)] == [nn.LocalResponseNorm] * 2
    assert model.dropout.p == 0.4 and model.aux1.dropout.p == 0.7


# ---------------------------------------------------------------------------------
# Map sizes at the papers' input sizes
# ---------------------------------------------------------------------------------
def test_lenet5_1998_map_sizes(lenet):
    rows = {r.name: r.output_shape for r in summary(lenet, (1, 32, 32)).rows}
    assert rows == {"features.c1": (6, 28, 28), "features.s2": (6, 14, 14), "features.c3": (16, 10, 10),
                    "features.s4": (16, 5, 5), "head.c5": (120, 1, 1), "head.f6": (84,), "output": (10,)}


def test_alexnet_2012_map_sizes_at_227():
    torch.manual_seed(0)
    model = zoo.create_model("alexnet_2012").eval()
    rows = {r.name: r.output_shape for r in summary(model, (3, 227, 227)).rows}
    assert rows["features.conv1"] == (96, 55, 55) and rows["features.pool1"] == (96, 27, 27)
    assert rows["features.conv2"] == (256, 27, 27) and rows["features.pool2"] == (256, 13, 13)
    assert rows["features.conv5"] == (256, 13, 13) and rows["features.pool5"] == (256, 6, 6)
    assert rows["fc8"] == (1000,)
    with pytest.raises(ValueError, match="227x227"):
        model(torch.randn(1, 3, 224, 224))


@pytest.fixture(scope="module")
def googlenet() -> GoogLeNet2015:
    torch.manual_seed(0)
    return zoo.create_model("googlenet_2015", num_classes=10)


def test_googlenet_2015_map_sizes_at_224_follow_table_1(googlenet):
    rows = {r.name: r.output_shape for r in summary(googlenet.eval(), (3, 224, 224)).rows}
    assert rows["conv1.conv"] == (64, 112, 112) and rows["maxpool1"] == (64, 56, 56)
    assert rows["conv3.conv"] == (192, 56, 56) and rows["maxpool2"] == (192, 28, 28)
    assert rows["maxpool3"] == (480, 14, 14) and rows["maxpool4"] == (832, 7, 7)
    assert rows["avgpool"] == (1024, 1, 1) and rows["fc"] == (10,)
    with pytest.raises(ValueError, match="224x224"):
        googlenet(torch.randn(1, 3, 227, 227))


def test_googlenet_2015_aux_heads_train_with_weight_0_3_and_are_dropped_at_inference(googlenet):
    x, y = torch.randn(2, 3, 224, 224), torch.tensor([1, 2])
    googlenet.train()
    torch.manual_seed(1)
    out = googlenet(x)
    assert isinstance(out, GoogLeNetOutputs) and [o.shape for o in out] == [(2, 10)] * 3
    # The engine's classification loss weighs each auxiliary head by train.aux_weight (0.3).
    loss = Classification(10).loss(out, y)
    expected = F.cross_entropy(out.logits, y) + 0.3 * (F.cross_entropy(out.aux_logits1, y)
                                                       + F.cross_entropy(out.aux_logits2, y))
    torch.testing.assert_close(loss, expected)
    googlenet.eval()
    with torch.no_grad():
        logits = googlenet(x)
        features = googlenet.forward_features(x)
        assert isinstance(logits, torch.Tensor) and features.shape == (2, 1024, 7, 7)
        torch.testing.assert_close(googlenet.forward_head(features), logits)
        assert googlenet.forward_head(features, pre_logits=True).shape == (2, 1024)


def test_googlenet_2015_reset_classifier_resets_the_aux_heads_too(googlenet):
    model = zoo.create_model("googlenet_2015", num_classes=10)
    model.reset_classifier(7)
    assert model.get_classifier() is model.fc and model.fc.out_features == 7
    assert model.aux1.fc2.out_features == 7 and model.aux2.fc2.out_features == 7
    model.reset_classifier(0)
    assert isinstance(model.fc, nn.Identity) and isinstance(model.aux1.fc2, nn.Identity)


# ---------------------------------------------------------------------------------
# LeNet-5 (1998) layer by layer
# ---------------------------------------------------------------------------------
def test_c3_connections_are_table_i(lenet):
    c3 = lenet.features.c3
    assert torch.equal(c3.connections(), _table_i())
    # And the convolution really is that sparse: C3 map j depends on S2 map i iff Table I says so.
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    out = c3(x)
    reach = torch.zeros(6, 16, dtype=torch.bool)
    for j in range(16):
        (grad,) = torch.autograd.grad(out[0, j].sum(), x, retain_graph=True)
        reach[:, j] = grad[0].abs().flatten(1).sum(1) > 0
    assert torch.equal(reach, _table_i())


def test_subsampling_is_a_trained_coefficient_times_the_2x2_sum_plus_a_bias(lenet):
    s2 = lenet.features.s2
    x = torch.randn(3, 6, 28, 28)
    sums = x.unfold(2, 2, 2).unfold(3, 2, 2).sum(dim=(-1, -2))
    expected = sums * s2.weight.view(1, -1, 1, 1) + s2.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(s2(x), expected)


def test_squashing_is_1_7159_tanh_2x_over_3(lenet):
    a = torch.linspace(-4, 4, 41)
    torch.testing.assert_close(lenet.features.c1_act(a), 1.7159 * torch.tanh(2 * a / 3))
    torch.testing.assert_close(lenet.features.c1_act(torch.tensor([1.0, -1.0])), torch.tensor([1.0, -1.0]),
                               atol=1e-4, rtol=0)


def test_rbf_codes_are_fixed_plus_minus_one_and_equidistant():
    codes = rbf_prototypes(84)
    assert codes.shape == (84, 84) and set(codes.unique().tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(codes @ codes.T, 84 * torch.eye(84))  # a Hadamard matrix
    assert torch.equal(rbf_prototypes(10), codes[:10])  # deterministic, nested
    assert torch.equal(rbf_prototypes(100)[84:], -codes[:16])
    with pytest.raises(ValueError, match="1..168"):
        rbf_prototypes(169)


def test_rbf_output_is_the_negated_squared_distance_to_each_code(lenet):
    codes = lenet.output.prototypes
    x = 1.7 * torch.rand(4, 84) - 0.85
    torch.testing.assert_close(lenet.output(x), -torch.cdist(x, codes).square(), rtol=1e-5, atol=1e-4)
    # A code itself is at distance 0 from its class and 4 * 42 from every other one.
    out = lenet.output(codes)
    assert torch.equal(out.argmax(1), torch.arange(10))
    assert torch.equal(out, -168 * (1 - torch.eye(10)))


def test_lenet5_1998_head_interface_and_28px_padding(lenet):
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        features = lenet.forward_features(x)
        assert features.shape == (2, 16, 5, 5)
        assert lenet.forward_head(features, pre_logits=True).shape == (2, 84)
        torch.testing.assert_close(lenet.forward_head(features), lenet(x))
        small = torch.randn(2, 1, 28, 28)
        torch.testing.assert_close(lenet(small), lenet(F.pad(small, (2, 2, 2, 2), mode="replicate")))
    with pytest.raises(ValueError, match="32x32"):
        lenet(torch.randn(1, 1, 30, 30))


def test_lenet5_1998_reset_classifier_swaps_the_fixed_codes():
    model = zoo.create_model("lenet5_1998")
    assert model.get_classifier() is model.output
    model.reset_classifier(26)
    assert torch.equal(model.output.prototypes, rbf_prototypes(26))
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 26)
    model.reset_classifier(0)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 84)


# ---------------------------------------------------------------------------------
# Local response normalization, from the papers' formula
# ---------------------------------------------------------------------------------
def _lrn_by_the_formula(a: torch.Tensor, n: int, k: float, alpha: float, beta: float) -> torch.Tensor:
    """b_i = a_i / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a_j^2)^beta."""
    channels = a.shape[1]
    b = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        b[:, i] = a[:, i] / (k + alpha * a[:, lo:hi + 1].pow(2).sum(1)).pow(beta)
    return b


def test_alexnet_2012_lrn_is_section_3_3_with_its_constants():
    # Built on the meta device (no 61M weights to draw); the LRN layers hold no state.
    with torch.device("meta"):
        features = zoo.create_model("alexnet_2012").features
    a = 3 * torch.randn(2, 96, 7, 7).relu()
    expected = _lrn_by_the_formula(a, n=5, k=2.0, alpha=1e-4, beta=0.75)
    for norm in (features.norm1, features.norm2):
        torch.testing.assert_close(norm(a), expected)
    # torch.nn.LocalResponseNorm's alpha is the paper's times n: it divides by n.
    reference = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(a)
    torch.testing.assert_close(reference, expected)
    assert not torch.allclose(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a), expected)


def test_googlenet_2015_lrn_is_caffes(googlenet):
    a = 3 * torch.randn(2, 64, 5, 5).relu()
    expected = _lrn_by_the_formula(a, n=5, k=1.0, alpha=1e-4 / 5, beta=0.75)
    torch.testing.assert_close(googlenet.norm1(a), expected)
    torch.testing.assert_close(googlenet.norm2(a), expected)


# ---------------------------------------------------------------------------------
# Training through the engine's loss
# ---------------------------------------------------------------------------------
def _train_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> list[float]:
    task = Classification(int(y.max()) + 1)
    # Adam, as configs/lenet5_1998_mnist.yaml: the RBF penalties' wide range wants a
    # per-parameter step (the paper's own was per-parameter too, diagonal Levenberg-Marquardt).
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = task.loss(model(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def test_lenet5_1998_learns_through_the_engines_loss():
    torch.manual_seed(0)
    model = zoo.create_model("lenet5_1998").train()
    gen = torch.Generator().manual_seed(0)
    templates = torch.randn(4, 1, 32, 32, generator=gen)
    y = torch.arange(16) % 4
    x = templates[y] + 0.5 * torch.randn(16, 1, 32, 32, generator=gen)
    losses = _train_steps(model, x, y, steps=20, lr=0.001)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
@pytest.mark.parametrize("name, size, make_optimizer", [
    # The paper's N(0, 0.01) weights with unit biases make fc7's outputs large: a step
    # of lr 0.01 on eight images overshoots, so the step is smaller here.
    ("alexnet_2012", 227, lambda params: torch.optim.SGD(params, lr=1e-4, momentum=0.9)),
    # 22 layers without batch norm start slowly under SGD; Adam moves in a few steps.
    ("googlenet_2015", 224, lambda params: torch.optim.Adam(params, lr=1e-4)),
])
def test_big_variants_learn_in_a_few_steps(name, size, make_optimizer):
    """A few steps on eight fixed images lower the eval-mode loss (no dropout noise)."""
    torch.manual_seed(0)
    model = zoo.create_model(name, num_classes=4)
    x, y = torch.randn(8, 3, size, size), torch.arange(8) % 4
    task = Classification(4)

    def eval_loss() -> float:
        with torch.no_grad():
            return task.loss(model.eval()(x), y).item()

    before = eval_loss()
    opt = make_optimizer(model.parameters())
    for _ in range(4):
        loss = task.loss(model.train()(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < before


# ---------------------------------------------------------------------------------
# zoo info / zoo summary
# ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, twin", [("lenet5_1998", "lenet5"), ("alexnet_2012", "alexnet"),
                                        ("googlenet_2015", "googlenet")])
def test_zoo_info_says_how_each_differs_from_its_twin(name, twin, capsys):
    from zoo.cli import main

    assert twin in zoo.model_info(name)["notes"]
    assert zoo.model_info(twin)["notes"] == ""
    assert main(["info", name]) == 0
    out = capsys.readouterr().out
    assert "notes" in out and f"{twin} is" in " ".join(out.split())


def test_zoo_summary_cli_on_lenet5_1998(capsys):
    from zoo.cli import main

    assert main(["summary", "lenet5_1998"]) == 0
    out = capsys.readouterr().out
    assert "Trainable params:      60,000" in out and "SparseConv2d" in out and "RBF" in out
