"""`zoo reproduce`: paper tables found and listed, a CIFAR row on tiny fake data with
the paper column, folds averaged, untrained baselines, a failing row that does not stop
the others, resuming, and the schedule compressed by --epochs-scale."""

import csv
import json

import pytest
import yaml

from zoo.cli import main
from zoo.reproduce import RESULT_COLUMNS, _scaled, list_tables, load_table, reproduce

from .conftest import ROOT
from .test_data_text import write_mr
from .test_data_vision import make_cifar10


def read_rows(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_list_names_every_table(capsys):
    assert main(["reproduce", "--list"]) == 0
    printed = capsys.readouterr().out
    names = sorted(p.stem for p in (ROOT / "configs" / "reproduce").glob("*.yaml"))
    assert {"he2016_cifar10", "lecun1998_mnist"} <= set(names)
    for name in names:
        assert any(line.split()[0] == name and len(line.split()) > 1 for line in printed.splitlines()), name
    assert [n for n, _ in list_tables()] == names


def test_every_table_loads_and_points_at_real_configs():
    for name, _ in list_tables():
        table = load_table(name)
        assert table.rows and table.metric in ("accuracy", "error", "mse", "ssim", "nats")
        for row in table.rows:
            assert row.config is None or row.config.is_file(), (name, row.row, row.config)
    he = load_table("he2016_cifar10")
    assert [(r.model, r.paper) for r in he.rows] == [
        ("resnet20", 8.75), ("resnet32", 7.51), ("resnet44", 7.17), ("resnet56", 6.97), ("resnet110", 6.43)]
    assert he.metric == "error" and he.schedule["epochs"] == 164
    lenet = load_table("lecun1998_mnist")
    assert [(r.model, r.paper) for r in lenet.rows] == [("lenet5", 0.95), ("lenet5_1998", 0.95)]


def test_tables_found_from_elsewhere_and_through_zoo_configs(tmp_path, monkeypatch, capsys):
    # Another working folder: the tables beside the package are found.
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--list"]) == 0
    assert "he2016_cifar10" in capsys.readouterr().out
    # $ZOO_CONFIGS names another configs folder (a checkout beside a non-editable install).
    (tmp_path / "mine" / "reproduce").mkdir(parents=True)
    (tmp_path / "mine" / "reproduce" / "mine.yaml").write_text("title: my table\nmetric: accuracy\nrows: []\n")
    monkeypatch.setenv("ZOO_CONFIGS", str(tmp_path / "mine"))
    assert main(["reproduce", "--list"]) == 0
    assert capsys.readouterr().out.split() == ["mine", "my", "table"]
    assert main(["reproduce", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "no paper table 'nosuch'" in err and "mine" in err


def test_he2016_resnet20_tiny_budget_writes_paper_column_and_resumes(tmp_path, capfd):
    make_cifar10(tmp_path / "data", per_batch=8, n_test=16)
    out = tmp_path / "out"
    args = ["reproduce", "he2016_cifar10", "--models", "resnet20", "--epochs-scale", "0.01", "--out", str(out),
            f"data.root={tmp_path / 'data'}", "data.batch_size=20", "log.progress=lines", "--in-process"]
    assert main(args) == 0  # on the CPU (--in-process: the test's process; the worker path is compare's, tested there)
    printed = capfd.readouterr().out
    rows = read_rows(out)
    assert list(rows[0]) == list(RESULT_COLUMNS)
    assert len(rows) == 1
    r = rows[0]
    assert (r["row"], r["model"], r["status"], r["metric"]) == ("ResNet-20", "resnet20", "ok", "error")
    assert float(r["paper"]) == 8.75
    summary = json.loads((out / "resnet-20" / "resnet20" / "summary.json").read_text())
    assert float(r["zoo"]) == pytest.approx(100 * (1 - summary["test"]["acc1"]))
    assert float(r["difference"]) == pytest.approx(float(r["zoo"]) - 8.75)
    assert (int(r["epochs"]), int(r["paper_epochs"])) == (2, 164)  # round(0.01 * 164)
    assert summary["epochs"] == 2
    assert r["short_budget"] == "True" and float(r["wall_time_s"]) > 0 and r["device"] == "cpu"
    md = (out / "results.md").read_text()
    assert "| row | model | paper error (%) | zoo error (%) | difference | epochs (paper) |" in md
    assert "| ResNet-20 | `resnet20` | 8.75 |" in md and "| 2 (164) |" in md and "short budget |" in md
    assert "Table 6" in md and "zoo reproduce he2016_cifar10 --models resnet20 --epochs-scale 0.01" in md
    assert "| ResNet-20 |" in printed

    # Again: the row is done with the same config, nothing trains.
    stamp = (out / "resnet-20" / "resnet20" / "summary.json").stat().st_mtime_ns
    assert main(args) == 0
    printed = capfd.readouterr().out
    assert "skipped" in printed and "epoch 1/2" not in printed
    assert (out / "resnet-20" / "resnet20" / "summary.json").stat().st_mtime_ns == stamp
    assert read_rows(out) == rows


def write_table(path, rows, metric="accuracy"):
    path.write_text(yaml.safe_dump({
        "title": "tiny MR table", "paper": "Kim 2014", "source": "Table 2", "metric": metric,
        "schedule": {"epochs": 4, "batch_size": 50}, "note": "only the rand column", "rows": rows,
    }, sort_keys=False))
    return path


def test_folds_baseline_and_a_failing_row(tmp_path, capfd):
    write_mr(tmp_path / "data")
    tiny = ["model.embed_dim=8", "model.maps=4", "model.widths=[2,3]", "data.folds=2", "data.batch_size=6",
            "optim.name=adam", "optim.lr=0.01", "train.device=cpu", "log.progress=off"]
    table = write_table(tmp_path / "tiny_mr.yaml", [
        {"row": "CNN-rand", "model": "textcnn", "config": "configs/textcnn_mr.yaml", "paper": 76.1, "folds": 2,
         "schedule": {"epochs": 25}},
        {"row": "broken", "model": "textcnn", "config": "configs/textcnn_mr.yaml", "paper": 1.0,
         "overrides": ["train.monitor=f1"]},  # not a metric of the task: fails after its first epoch
        {"row": "untrained", "model": "textcnn", "config": "configs/textcnn_mr.yaml", "paper": 50.0, "train": False},
    ])
    out = tmp_path / "out"
    args = ["reproduce", str(table), "--out", str(out), "--epochs-scale", "0.1", "--in-process",
            f"data.root={tmp_path / 'data'}", *tiny]
    assert main(args) == 1  # a row failed; the others still ran
    err = capfd.readouterr().err
    assert "zoo reproduce: broken failed:" in err

    rows = {r["row"]: r for r in read_rows(out)}
    assert list(rows) == ["CNN-rand", "broken", "untrained"]
    cnn = rows["CNN-rand"]
    accs = []
    for fold in range(2):
        s = json.loads((out / "cnn-rand" / f"fold{fold}" / "textcnn" / "summary.json").read_text())
        cfg = yaml.safe_load((out / "cnn-rand" / f"fold{fold}" / "textcnn" / "config.yaml").read_text())
        assert cfg["data"]["fold"] == fold and cfg["data"]["folds"] == 2
        assert s["epochs"] == 2  # round(0.1 * 25): the row's own schedule beats the table's
        accs.append(100 * s["test"]["acc1"])
    mean = sum(accs) / 2
    std = abs(accs[0] - accs[1]) / 2 ** 0.5  # the sample standard deviation of two
    assert cnn["status"] == "ok" and int(cnn["folds"]) == 2
    assert float(cnn["zoo"]) == pytest.approx(mean) and float(cnn["zoo_std"]) == pytest.approx(std)
    assert float(cnn["difference"]) == pytest.approx(mean - 76.1)
    assert (int(cnn["epochs"]), int(cnn["paper_epochs"]), cnn["short_budget"]) == (2, 25, "True")

    assert rows["broken"]["status"].startswith("failed: ") and rows["broken"]["zoo"] == ""

    base = rows["untrained"]
    record = json.loads((out / "untrained" / "result.json").read_text())
    assert base["status"] == "ok" and int(base["epochs"]) == 0 and base["short_budget"] == "False"
    assert float(base["zoo"]) == pytest.approx(100 * record["test"]["acc1"])
    md = (out / "results.md").read_text()
    assert f"{mean:.2f} ± {std:.2f} (2 folds)" in md and "**failed: " in md and "| baseline |" in md
    assert "only the rand column" in md

    # Resume: the folds and the baseline are read back, only the broken row runs again.
    stamps = [p.stat().st_mtime_ns for p in (out / "untrained" / "result.json",
                                             out / "cnn-rand" / "fold1" / "textcnn" / "summary.json")]
    assert main(args) == 1
    captured = capfd.readouterr()
    assert captured.out.count("done earlier, skipped") == 2 and "broken failed" in captured.err
    assert [p.stat().st_mtime_ns for p in (out / "untrained" / "result.json",
                                           out / "cnn-rand" / "fold1" / "textcnn" / "summary.json")] == stamps
    assert {r["row"]: r for r in read_rows(out)}["CNN-rand"] == cnn


def test_metric_kinds_read_the_right_test_metric(tmp_path):
    """mse from a regression run, nats from its loss; a metric the task lacks fails the row."""
    rows = [{"row": "LSTM adding", "model": "lstm", "config": "configs/lstm_adding.yaml", "paper": 0.167,
             "train": False}]
    over = ["data.T=10", "data.train_size=32", "data.test_size=16", "model.hidden_size=4", "train.device=cpu"]
    for metric, key in (("mse", "mse"), ("nats", "loss")):
        table = write_table(tmp_path / f"t_{metric}.yaml", rows, metric=metric)
        result = reproduce(table, out=tmp_path / metric, overrides=over, verbose=False)
        assert result.ok
        test = json.loads((tmp_path / metric / "lstm_adding" / "result.json").read_text())["test"]
        assert result.rows[0]["zoo"] == pytest.approx(test[key])
        # The kind is the unit here: one header word, not "nats (nats)".
        assert f"| paper {metric} | zoo {metric} |" in (tmp_path / metric / "results.md").read_text()
    table = write_table(tmp_path / "t_ssim.yaml", rows, metric="ssim")
    result = reproduce(table, out=tmp_path / "ssim", overrides=over, verbose=False)
    assert not result.ok and "no test ssim" in result.rows[0]["status"]


def test_epochs_scale_compresses_the_papers_step_schedule():
    from zoo.reproduce import _base_config

    row = load_table("he2016_cifar10_paper").rows[-1]  # ResNet-110: steps, milestones, warm-up
    cfg = _scaled(_base_config(row, []), 0.5, 82)
    assert cfg["train"]["epochs"] == 82 and cfg["train"]["max_steps"] == 32000
    assert cfg["sched"]["milestones"] == [16000, 24000] and cfg["sched"]["warmup_steps"] == 200
    epoch_cfg = {"train": {"epochs": 100, "max_steps": None},
                 "sched": {"unit": "epoch", "milestones": [50, 75], "step_size": 30, "warmup_steps": 0,
                           "warmup_epochs": 5}}
    cfg = _scaled(epoch_cfg, 0.2, 20)
    assert cfg["sched"]["milestones"] == [10, 15] and cfg["sched"]["step_size"] == 6
    assert cfg["sched"]["warmup_epochs"] == pytest.approx(1.0)
    # The fast recipe (60 epochs, 2 warm-up epochs) at 0.01 of the paper's 164: 2 epochs.
    row = load_table("he2016_cifar10").rows[0]
    cfg = _scaled(_base_config(row, []), 0.01, 2)
    assert cfg["train"]["epochs"] == 2 and cfg["sched"]["warmup_epochs"] == pytest.approx(2 * 2 / 60)


def test_bad_requests_are_one_line_errors(tmp_path, capsys):
    assert main(["reproduce", "he2016_cifar10", "--models", "vgg11"]) == 2
    assert "--models: vgg11 not in he2016_cifar10" in capsys.readouterr().err
    assert main(["reproduce", "he2016_cifar10", "--epochs-scale", "1", "--seconds", "5"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["reproduce", "he2016_cifar10", "--epochs-scale", "0"]) == 2
    assert "--epochs-scale must be a number > 0" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nmetric: f1\nrows: [{model: lenet5}]\n")
    assert main(["reproduce", str(bad)]) == 2
    assert "metric must be one of accuracy, error, mse, ssim, nats" in capsys.readouterr().err


def test_seconds_budget_cuts_the_recipe(tmp_path):
    table = write_table(tmp_path / "t.yaml", [{"row": "LSTM", "model": "lstm", "config": "configs/lstm_adding.yaml",
                                               "paper": 0.167}], metric="mse")
    over = ["data.T=10", "data.train_size=32", "data.test_size=16", "model.hidden_size=4", "train.device=cpu",
            "train.epochs=3", "log.progress=off"]
    result = reproduce(table, seconds=120, out=tmp_path / "o", overrides=over, verbose=False, isolate=False)
    assert result.ok
    cfg = yaml.safe_load((tmp_path / "o" / "lstm" / "lstm" / "config.yaml").read_text())
    assert cfg["train"]["max_seconds"] == 120 and cfg["train"]["epochs"] == 3  # the recipe's epochs, cut by time
    row = result.rows[0]
    assert row["epochs"] == 3 and row["paper_epochs"] == 4 and row["short_budget"]
    assert row["zoo"] == pytest.approx(json.loads((tmp_path / "o" / "lstm" / "lstm" / "summary.json").read_text())
                                       ["test"]["mse"])
