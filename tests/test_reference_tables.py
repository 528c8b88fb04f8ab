"""The paper tables of the recurrent and text rows (configs/reproduce/*.yaml): each
follows the schema, every row's config builds its model, and every row runs end to
end on small files written here and reports the test metric its table compares."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

import zoo
from zoo.data import get_dataset_entry
from zoo.engine.config import load_config
from zoo.engine.trainer import train
from zoo.registry import get_model_entry

from .conftest import ROOT
from .test_data_sequence import make_mnist
from .test_data_text import write_sst2, write_trec
from .test_kim2014 import write_mr

TABLES = ["kim2014", "seq_mnist", "adding_t200", "shi2015_moving_mnist", "charlm_tinyshakespeare"]
TABLE_KEYS = {"title", "paper", "source", "metric", "schedule", "note", "rows"}
ROW_KEYS = {"row", "model", "config", "overrides", "paper", "folds", "schedule", "train"}
# The table's metric -> (the run's test metric, the tasks that report it).
METRIC = {"accuracy": ("acc1", {"classification"}), "error": ("acc1", {"classification"}),
          "mse": ("mse", {"regression", "frames"}), "ssim": ("ssim", {"frames"}), "nats": ("loss", {"lm"})}


def table(name: str) -> dict:
    return yaml.safe_load((ROOT / "configs" / "reproduce" / f"{name}.yaml").read_text())


def rows() -> list:
    return [pytest.param(name, i, id=f"{name}-{i}") for name in TABLES for i in range(len(table(name)["rows"]))]


def row_config(row: dict, extra: list[str] = ()):
    return load_config(ROOT / row["config"], [f"model.name={row['model']}", *row.get("overrides", []), *extra])


@pytest.mark.parametrize("name", TABLES)
def test_table_follows_the_schema(name):
    t = table(name)
    assert set(t) <= TABLE_KEYS and {"title", "paper", "source", "metric", "schedule", "rows"} <= set(t)
    assert t["metric"] in METRIC and isinstance(t["schedule"]["epochs"], int)
    labels = [r["row"] for r in t["rows"]]
    assert len(set(labels)) == len(labels)
    for r in t["rows"]:
        assert set(r) <= ROW_KEYS and r["paper"] is None or isinstance(r["paper"], (int, float))


def test_paper_figures():
    assert {r["row"].split(" ")[0]: r["paper"] for r in table("kim2014")["rows"]} == {"MR": 76.1, "SST-2": 82.7, "TREC": 91.2}
    assert table("kim2014")["rows"][0]["folds"] == 10
    assert "word2vec" in table("kim2014")["note"]
    assert table("charlm_tinyshakespeare")["rows"][0]["paper"] == 1.47
    moving = table("shi2015_moving_mnist")["rows"]
    assert [r["model"] for r in moving] == ["copy_last", "convlstm"] and moving[0]["train"] is False
    assert {r["model"] for r in table("seq_mnist")["rows"]} == {"rnn", "gru", "lstm"}


@pytest.mark.parametrize("name,i", rows())
def test_row_config_builds_its_model(name, i):
    t = table(name)
    row = t["rows"][i]
    cfg = row_config(row)
    entry = get_model_entry(row["model"])
    assert get_dataset_entry(cfg.data.name).task in METRIC[t["metric"]][1]
    if row.get("folds"):
        assert "fold" in get_dataset_entry(cfg.data.name).options
    with torch.device("meta"):
        model = zoo.create_model(row["model"], **cfg.model.kwargs)
    if row.get("train") is False:
        assert sum(p.numel() for p in model.parameters()) == 0 and entry.family == "baseline"


# Small data in the real formats, and overrides that shrink each dataset to seconds.
def _small_data(root: Path, dataset: str) -> list[str]:
    if dataset == "mr":
        write_mr(root)
        return ["data.fold=0"]
    if dataset == "sst2":
        write_sst2(root, folder="sst2")
        return []
    if dataset == "trec":
        write_trec(root)
        return []
    if dataset in ("seq_mnist", "moving_mnist"):
        make_mnist(root, n_train=40, n_test=20)
        if dataset == "moving_mnist":
            return ["data.train_size=4", "data.test_size=4", "data.image_size=32", "data.batch_size=2"]
        return []
    if dataset == "adding":
        return ["data.train_size=64", "data.test_size=16", "data.T=20"]
    if dataset == "tinyshakespeare":
        (root / "tinyshakespeare").mkdir()
        lines = ["First Citizen:", "Before we proceed any further, hear me speak.", "All:", "Speak, speak."] * 60
        (root / "tinyshakespeare" / "input.txt").write_text("\n".join(lines) + "\n")
        return ["model.hidden_size=32", "model.embed_dim=16"]
    raise AssertionError(f"no small data for {dataset}")


@pytest.mark.parametrize("name,i", rows())
def test_row_runs_and_reports_its_metric(name, i, tmp_path):
    t = table(name)
    row = t["rows"][i]
    dataset = row_config(row).data.name
    extra = _small_data(tmp_path, dataset)
    # A baseline is evaluated untrained (train.epochs=0); a trained row takes one step.
    budget = ["train.epochs=0"] if row.get("train") is False else ["train.epochs=1", "train.max_steps=1"]
    cfg = row_config(row, [*extra, f"data.root={tmp_path}", *budget, "log.progress=off",
                           f"run.dir={tmp_path / 'runs'}", "train.device=cpu"])
    summary = train(cfg)
    value = summary["test"][METRIC[t["metric"]][0]]
    assert isinstance(value, float) and math.isfinite(value)
    if dataset == "tinyshakespeare":
        assert summary["test"]["bpc"] == pytest.approx(value / math.log(2))
    if dataset == "moving_mnist":
        assert 0 < summary["test"]["ssim"] <= 1
