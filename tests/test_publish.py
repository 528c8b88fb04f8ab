"""zoo.publish: a finished run's weights into the package, with the manifest entry
the reproduce issues ask for (sha256, config, command, epochs, train time, machine)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo import publish as publish_module
from zoo.checkpoint import load_checkpoint
from zoo.engine.trainer import train
from zoo.manifest import file_sha256

from .conftest import tiny_config


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """An empty package weights folder and manifest for publish to write into."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(publish_module, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(publish_module, "MANIFEST", folder / "manifest.json")
    return folder


def test_publish_records_what_trained_the_weights(tmp_path, weights):
    summary = train(tiny_config(tmp_path, train={"epochs": 2, "threads": 1}))
    record = publish_module.publish(summary["run_dir"], "digits", config="configs/lenet5_digits.yaml",
                                    command="zoo train configs/lenet5_digits.yaml", data_root=str(tmp_path))
    target = weights / "lenet5.digits.safetensors"
    assert record["sha256"] == file_sha256(target)
    # The figure is zoo eval's on the copied file, the same the run measured on its test split.
    assert abs(record["value"] - summary["test"]["acc1"]) < 1e-6
    assert record["epochs"] == 2 and record["train_time_s"] > 0 and record["device"] == "cpu"
    assert record["machine"] == summary["machine"] + ", 1 torch thread" and summary["machine"].endswith(" cores")
    assert json.loads((weights / "manifest.json").read_text()) == [record]


def test_publish_in_float16_halves_the_file_and_loads_as_float32(tmp_path, weights):
    summary = train(tiny_config(tmp_path, train={"epochs": 1, "threads": 1}))
    best = Path(summary["run_dir"]) / "best.safetensors"
    full = load_checkpoint(best)
    record = publish_module.publish(summary["run_dir"], "digits", config="configs/lenet5_digits.yaml",
                                    command="zoo train configs/lenet5_digits.yaml", data_root=str(tmp_path),
                                    dtype="float16")
    target = weights / "lenet5.digits.safetensors"
    assert record["dtype"] == "float16" and record["sha256"] == file_sha256(target)
    assert {t.dtype for t in load_file(str(target)).values() if t.is_floating_point()} == {torch.float16}
    assert target.stat().st_size < 0.6 * best.stat().st_size
    # Both loaders check the stored tensors against their sha256 and give a float32 model.
    x = torch.randn(4, *full.zoo_meta["input_size"])
    for model in (load_checkpoint(target), zoo.create_model("lenet5", pretrained=str(target))):
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        torch.testing.assert_close(model.eval()(x), full(x), atol=1e-2, rtol=1e-2)
    # The recorded figure is zoo eval's on the stored weights (the digits test set is small).
    assert abs(record["value"] - summary["test"]["acc1"]) < 0.05
