import pytest
import torch

import zoo
from zoo.models.lenet import LeNet5


def test_default_parameter_count_matches_the_docstring_arithmetic():
    model = zoo.create_model("lenet5")
    assert sum(p.numel() for p in model.parameters()) == 61_706
    conv1, conv3 = model.features[0], model.features[3]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size) == (1, 6, (5, 5))
    assert (conv3.in_channels, conv3.out_channels, conv3.kernel_size) == (6, 16, (5, 5))
    assert [m.out_features for m in model.classifier if isinstance(m, torch.nn.Linear)] == [120, 84, 10]


def test_feature_map_sizes_follow_the_paper():
    model = zoo.create_model("lenet5")
    x = torch.randn(1, 1, 32, 32)
    shapes = []
    for layer in model.features:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes[0] == (6, 28, 28)  # C1
    assert shapes[2] == (6, 14, 14)  # S2
    assert shapes[3] == (16, 10, 10)  # C3
    assert shapes[5] == (16, 5, 5)  # S4


def test_28px_inputs_are_padded_by_two():
    model = zoo.create_model("lenet5").eval()
    x = torch.randn(3, 1, 28, 28)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    torch.testing.assert_close(model(x), model(padded), rtol=0, atol=0)


def test_other_input_sizes_fail_clearly():
    with pytest.raises(ValueError, match="32x32"):
        zoo.create_model("lenet5")(torch.randn(1, 1, 64, 64))


@pytest.mark.parametrize("activation,pool", [("tanh", "avg"), ("relu", "max")])
def test_options(activation, pool):
    model = LeNet5(in_chans=3, num_classes=4, channels=(8, 16), fc=(64, 32), activation=activation, pool=pool)
    assert isinstance(model.features[1], torch.nn.Tanh if activation == "tanh" else torch.nn.ReLU)
    assert isinstance(model.features[2], torch.nn.AvgPool2d if pool == "avg" else torch.nn.MaxPool2d)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)
