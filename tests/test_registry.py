import pytest
import torch

import zoo
from zoo.errors import ConfigError, UnknownNameError
from zoo.registry import register_model


def test_list_models_sorted_and_filtered():
    names = zoo.list_models()
    assert names == sorted(names)
    assert "lenet5" in names
    assert zoo.list_models("lenet*") == ["lenet5", "lenet5_1998"]
    assert zoo.list_models("no-such-*") == []


def test_create_model_builds_and_records_its_arguments():
    model = zoo.create_model("lenet5", num_classes=7, in_chans=3, activation="relu")
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert model.zoo_config == {"name": "lenet5", "kwargs": {"activation": "relu", "num_classes": 7, "in_chans": 3}}


def test_unknown_model_suggests_close_matches():
    with pytest.raises(KeyError) as exc:
        zoo.create_model("lenet")
    assert isinstance(exc.value, UnknownNameError)
    assert "lenet5" in str(exc.value)


def test_unknown_model_argument_is_named():
    with pytest.raises(ConfigError, match="'activaton'.*activation"):
        zoo.create_model("lenet5", activaton="relu")


def test_bad_argument_value_names_the_model():
    with pytest.raises(ValueError, match="lenet5.*activation"):
        zoo.create_model("lenet5", activation="sigmoid")


def test_model_info():
    info = zoo.model_info("lenet5")
    assert info["family"] == "lenet"
    assert "LeCun" in info["paper"]
    assert info["input_size"] == [1, 32, 32]
    assert info["task"] == "classification"
    assert info["params"] == 61_706


def test_register_model_rejects_a_second_builder_under_one_name():
    with pytest.raises(ValueError, match="registered twice"):
        @register_model(family="lenet", paper="-", input_size=(1, 32, 32), name="lenet5")
        def other(**kwargs):
            return torch.nn.Identity()


def test_register_model_checks_its_preprocessing():
    with pytest.raises(ValueError, match="mean and std"):
        register_model(family="x", paper="p", input_size=(3, 8, 8), mean=(0.5,), std=(0.5, 0.5))
    with pytest.raises(ValueError, match="mean and std"):
        register_model(family="x", paper="p", input_size=(3, 8, 8), mean=(0.5,))
