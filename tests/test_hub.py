"""hubconf.py: torch.hub.load(clone, NAME, source="local", pretrained=...) for every registered model."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import zoo
from zoo.checkpoint import save_checkpoint

from .conftest import ROOT


@pytest.fixture(scope="module")
def hubconf():
    spec = importlib.util.spec_from_file_location("zoo_hubconf_under_test", ROOT / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_registered_model_is_an_entry_point(hubconf):
    for name in zoo.list_models():
        fn = getattr(hubconf, name)
        assert callable(fn) and fn.__name__ == name and name in fn.__doc__
    for name in zoo.list_models(pretrained=True):
        assert callable(getattr(hubconf, name))
    assert isinstance(hubconf.dependencies, list)


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "gru", "textcnn"])
def test_hub_load_local(name):
    model = torch.hub.load(str(ROOT), name, source="local", trust_repo=True, verbose=False)
    assert isinstance(model, torch.nn.Module)
    assert model.zoo_config["name"] == name


def test_hub_load_resnet18_from_state_dict(tmp_path):
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(net.state_dict(), path)
    model = torch.hub.load(str(ROOT), "resnet18", source="local", pretrained=str(path), num_classes=10, in_chans=1,
                           verbose=False)
    torch.testing.assert_close(model.conv1.weight, net.conv1.weight.sum(1, keepdim=True))
    assert model.eval()(torch.randn(1, 1, 64, 64)).shape == (1, 10)


def test_hub_load_zoo_checkpoint_and_kwargs(tmp_path):
    src = zoo.create_model("resnet20", num_classes=4)
    path = save_checkpoint(src, tmp_path / "r.safetensors")
    model = torch.hub.load(str(ROOT), "resnet20", source="local", pretrained=str(path), verbose=False)
    assert torch.equal(model.fc.weight, src.fc.weight)
    plain = torch.hub.load(str(ROOT), "resnet20", source="local", pretrained=False, num_classes=7, verbose=False)
    assert plain.fc.out_features == 7


def test_hub_load_published():
    assert "lenet5.mnist" in zoo.list_models(pretrained=True)  # shipped in zoo/weights
    by_name = torch.hub.load(str(ROOT), "lenet5.mnist", source="local", verbose=False)
    by_tag = torch.hub.load(str(ROOT), "lenet5", source="local", pretrained="mnist", verbose=False)
    by_true = torch.hub.load(str(ROOT), "lenet5", source="local", pretrained=True, verbose=False)
    x = torch.randn(2, 1, 28, 28)
    ref = by_name.eval()(x)
    torch.testing.assert_close(by_tag.eval()(x), ref)
    torch.testing.assert_close(by_true.eval()(x), ref)
