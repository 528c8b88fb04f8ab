"""The fit loop end to end on the bundled digits (about a second per run)."""

import csv
import json

import pytest
import torch

import zoo
from zoo.engine.config import config_from_dict
from zoo.engine.trainer import TIMING_COLUMNS, Trainer, train

from .conftest import tiny_config


def read_metrics(run_dir, drop_timing=True):
    with open(run_dir / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    if drop_timing:
        rows = [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows]
    return rows


def test_tiny_run_writes_the_run_directory(tmp_path):
    summary = train(tiny_config(tmp_path, train={"epochs": 3}))
    run_dir = tmp_path / "runs" / "tiny"
    (run_dir,) = [p for p in run_dir.iterdir()]
    assert {p.name for p in run_dir.iterdir()} >= {"config.yaml", "metrics.csv", "last.ckpt", "best.safetensors", "summary.json"}
    rows = read_metrics(run_dir, drop_timing=False)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert {"train_loss", "train_acc1", "test_loss", "test_acc1", "lr", "time", "samples_per_s"} <= set(rows[0])
    saved = json.loads((run_dir / "summary.json").read_text())
    assert saved["epochs"] == 3 and saved["params"] == 61_706
    assert saved["test"]["acc1"] > 0.85, "three epochs of LeNet-5 on digits learn the task"
    assert len(saved["test"]["confusion"]) == 10
    assert saved["best"]["epoch"] in (1, 2, 3)
    assert {"torch", "python", "zoo"} <= set(saved["versions"])
    assert saved["device"] == "cpu"
    # The resolved config re-loads to the same config.
    from zoo.engine.config import load_config

    assert load_config(run_dir / "config.yaml").to_dict() == config_from_dict(tiny_config(tmp_path, train={"epochs": 3})).to_dict()
    # best.safetensors rebuilds the model by itself and reproduces the best epoch's accuracy.
    model = zoo.load_checkpoint(run_dir / "best.safetensors")
    assert not model.training
    assert model.zoo_meta["dataset"] == "digits" and model.zoo_meta["classes"] == [str(i) for i in range(10)]
    best_acc = max(float(r["test_acc1"]) for r in rows)
    assert model.zoo_meta["metrics"]["acc1"] == pytest.approx(best_acc)
    assert summary["test"]["acc1"] == pytest.approx(float(rows[-1]["test_acc1"]))


def test_same_seed_gives_identical_metrics(tmp_path):
    train(tiny_config(tmp_path / "a"))
    train(tiny_config(tmp_path / "b"))
    (a,) = (tmp_path / "a" / "runs" / "tiny").iterdir()
    (b,) = (tmp_path / "b" / "runs" / "tiny").iterdir()
    assert read_metrics(a) == read_metrics(b)
    wa = zoo.load_checkpoint(a / "best.safetensors").state_dict()
    wb = zoo.load_checkpoint(b / "best.safetensors").state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_another_seed_gives_other_metrics(tmp_path):
    train(tiny_config(tmp_path / "a"))
    train(tiny_config(tmp_path / "b", train={"seed": 1}))
    (a,) = (tmp_path / "a" / "runs" / "tiny").iterdir()
    (b,) = (tmp_path / "b" / "runs" / "tiny").iterdir()
    assert read_metrics(a) != read_metrics(b)


def test_validation_split_is_evaluated_instead_of_test(tmp_path):
    train(tiny_config(tmp_path, data={"val_split": 0.2}, train={"epochs": 1}))
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    row = read_metrics(run_dir)[0]
    assert "val_acc1" in row and "test_acc1" not in row


def test_dataset_decides_classes_and_channels(tmp_path):
    trainer = Trainer(config_from_dict(tiny_config(tmp_path)))
    assert trainer.model_kwargs["num_classes"] == 10 and trainer.model_kwargs["in_chans"] == 1
    # The config wins over what the dataset says.
    trainer = Trainer(config_from_dict(tiny_config(tmp_path, model={"num_classes": 12})))
    assert trainer.model_kwargs["num_classes"] == 12
