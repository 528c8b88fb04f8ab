"""zoo.publish: a finished run's weights into the package, with the manifest entry
the reproduce issues ask for (sha256, config, command, epochs, train time, machine)."""

import json

from zoo import publish as publish_module
from zoo.engine.trainer import train
from zoo.manifest import file_sha256

from .conftest import tiny_config


def test_publish_records_what_trained_the_weights(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(publish_module, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(publish_module, "MANIFEST", weights / "manifest.json")
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
