"""Optimizers, schedules, accumulation, clipping, AMP, early stopping, NaN stop, eval, DDP."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch
import yaml

import zoo
from zoo.checkpoint import load_state
from zoo.engine.config import SchedConfig, config_from_dict
from zoo.engine.optim import build_optimizer, lr_lambda, param_groups
from zoo.engine.trainer import Trainer, TrainingStopped, train

from .conftest import ROOT, run_cli, tiny_config
from .test_engine import read_metrics


def schedule(**kwargs):
    cfg = SchedConfig(**kwargs)
    return lr_lambda(cfg, base_lr=0.1, steps_per_epoch=10, total_steps=100)


def test_step_and_multistep_in_epochs_and_steps():
    f = schedule(name="step", step_size=3, gamma=0.5)
    assert [f(s) for s in (0, 29, 30, 60)] == [1.0, 1.0, 0.5, 0.25]
    f = schedule(name="multistep", milestones=[2, 5])
    assert [f(s) for s in (19, 20, 49, 50)] == pytest.approx([1.0, 0.1, 0.1, 0.01])
    f = schedule(name="multistep", milestones=[32, 48], unit="step")
    assert [f(s) for s in (31, 32, 48)] == pytest.approx([1.0, 0.1, 0.01])


def test_cosine_with_warmup_and_floor():
    f = schedule(name="cosine", warmup_epochs=1, min_lr=0.001)
    assert f(0) == pytest.approx(0.1)  # first of 10 warmup steps
    assert f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.01 + 0.99 * 0.5)
    assert f(100) == pytest.approx(0.01)


def test_onecycle_rises_to_its_peak_then_anneals():
    f = schedule(name="onecycle", max_lr=0.4, pct_start=0.3)
    assert f(0) == pytest.approx(4 / 25)
    assert f(30) == pytest.approx(4.0)
    assert f(100) < 1e-3
    assert max(f(s) for s in range(100)) == pytest.approx(4.0)


def test_no_decay_for_norm_and_bias():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    model(torch.randn(1, 3, 5, 5))
    decay, no_decay = param_groups(model, 1e-4, True)
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[3].weight)}
    assert no_decay["weight_decay"] == 0 and len(no_decay["params"]) == 4
    assert len(param_groups(model, 1e-4, False)) == 1


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_each_optimizer_trains(tmp_path, name):
    lr = {"sgd": 0.1, "adam": 0.003, "adamw": 0.003, "rmsprop": 0.001}[name]
    summary = train(tiny_config(tmp_path, optim={"name": name, "lr": lr, "weight_decay": 1e-4, "nesterov": name == "sgd"},
                                train={"epochs": 1}))
    assert summary["test"]["acc1"] > 0.3  # well above chance after one epoch


def test_gradient_accumulation_equals_the_large_batch(tmp_path):
    common = {"optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "train": {"epochs": 1, "max_steps": 8}}
    big = Trainer(config_from_dict(tiny_config(tmp_path / "a", data={"batch_size": 64}, **common)))
    big.fit()
    acc = tiny_config(tmp_path / "b", data={"batch_size": 32}, **common)
    acc["train"]["accum_steps"] = 2
    small = Trainer(config_from_dict(acc))
    small.fit()
    assert big.pos.step == small.pos.step == 8
    for (name, a), b in zip(big.model.state_dict().items(), small.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)


def test_clipping_by_value_bounds_the_update(tmp_path):
    cfg = tiny_config(tmp_path, optim={"name": "sgd", "lr": 1.0, "momentum": 0.0}, train={"max_steps": 1, "grad_clip_value": 1e-6})
    trainer = Trainer(config_from_dict(cfg))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    change = max((v - before[k]).abs().max().item() for k, v in trainer.model.state_dict().items())
    assert 0 < change <= 1e-6 + 1e-9


def test_clipping_by_norm_bounds_the_update(tmp_path):
    cfg = tiny_config(tmp_path, optim={"name": "sgd", "lr": 1.0, "momentum": 0.0}, train={"max_steps": 1, "grad_clip_norm": 1e-3})
    trainer = Trainer(config_from_dict(cfg))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit()
    delta = torch.cat([(p.detach() - b).flatten() for p, b in zip(trainer.model.parameters(), before)])
    assert delta.norm().item() == pytest.approx(1e-3, rel=1e-3)


def test_non_finite_loss_stops_with_epoch_and_step(tmp_path):
    cfg = tiny_config(tmp_path, optim={"name": "sgd", "lr": 1e6, "momentum": 0.0}, train={"epochs": 2})
    with pytest.raises(TrainingStopped, match=r"NaN/Inf at epoch 1, step \d+ of \d+"):
        train(cfg)


def test_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 1}, optim={"name": "sgd", "lr": 0.05, "momentum": 0.0})
    Trainer(config_from_dict(cfg)).fit()
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    good = (run_dir / "last.ckpt").read_bytes()
    diverging = tiny_config(tmp_path, train={"epochs": 2}, optim={"name": "sgd", "lr": 1e6, "momentum": 0.0})
    with pytest.raises(TrainingStopped, match="last good checkpoint"):
        Trainer(config_from_dict(diverging), resume=run_dir, force=True).fit()
    assert (run_dir / "last.ckpt").read_bytes() == good


def test_early_stopping(tmp_path):
    # A learning rate too small to change the predictions: accuracy never improves.
    summary = train(tiny_config(tmp_path, optim={"name": "sgd", "lr": 1e-12, "momentum": 0.0},
                                train={"epochs": 10, "patience": 2, "monitor": "acc1"}))
    assert summary["epochs"] == 3
    assert "early stopping" in summary["stopped"]


def test_unknown_monitor_is_a_config_error(tmp_path):
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="train.monitor"):
        train(tiny_config(tmp_path, train={"epochs": 1, "monitor": "acc7"}))


def test_bf16_autocast_on_cpu_trains(tmp_path):
    summary = train(tiny_config(tmp_path, train={"epochs": 2, "amp": "bf16"}))
    assert summary["test"]["acc1"] > 0.6


def test_label_smoothing_changes_the_training_loss_only(tmp_path):
    plain = train(tiny_config(tmp_path / "a", train={"epochs": 1}))
    smooth = train(tiny_config(tmp_path / "b", train={"epochs": 1, "label_smoothing": 0.1}))
    assert smooth["final"]["train_loss"] > plain["final"]["train_loss"]


def test_progress_lines_when_not_a_terminal(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 1})
    cfg["log"] = {"progress": "auto", "every_steps": 5}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_cli("train", path)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1 step 5/23" in proc.stdout
    assert "samples/s" in proc.stdout


def test_zoo_eval_on_a_finished_run(tmp_path):
    train(tiny_config(tmp_path, train={"epochs": 2}))
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    proc = run_cli("eval", run_dir, "--json", "--out", tmp_path / "eval")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    best = max(float(r["test_acc1"]) for r in read_metrics(run_dir))
    assert metrics["acc1"] == pytest.approx(best, abs=1e-6)
    assert metrics["n"] == 360
    assert (tmp_path / "eval" / "confusion_digits_test.png").stat().st_size > 1000
    bad = run_cli("eval", tmp_path / "missing.safetensors")
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_two_gloo_processes_equal_one_process(tmp_path):
    common = {"optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "data": {"batch_size": 64},
              "train": {"epochs": 1, "max_steps": 6}}
    single = Trainer(config_from_dict(tiny_config(tmp_path / "one", **common)))
    single.fit()
    cfg = tiny_config(tmp_path / "two", **common)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*torchrun, "train.py", str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "two" / "runs" / "tiny").iterdir()
    state = load_state(run_dir / "last.ckpt")
    assert state["position"]["step"] == 6
    for name, value in single.model.state_dict().items():
        torch.testing.assert_close(state["model"][name], value, rtol=0, atol=1e-5, msg=name)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["test"]["acc1"] == pytest.approx(single.rows[-1]["test_acc1"], abs=1e-9)


def test_channels_last_trains_to_the_same_weights(tmp_path):
    common = {"train": {"epochs": 1, "max_steps": 5}}
    plain = Trainer(config_from_dict(tiny_config(tmp_path / "a", **common)))
    plain.fit()
    cl = tiny_config(tmp_path / "b", **common)
    cl["train"]["channels_last"] = True
    nhwc = Trainer(config_from_dict(cl))
    assert nhwc.model.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    nhwc.fit()
    for (name, a), b in zip(plain.model.state_dict().items(), nhwc.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("value, mode", [(True, None), ("reduce-overhead", "reduce-overhead"),
                                         ("max-autotune", "max-autotune")])
def test_compile_mode_reaches_torch_compile(tmp_path, monkeypatch, value, mode):
    seen = []
    monkeypatch.setattr(torch, "compile", lambda net, **kw: seen.append(kw) or net)
    Trainer(config_from_dict(tiny_config(tmp_path, train={"compile": value})))
    assert seen == [{"mode": mode}]


def test_unknown_compile_mode_is_a_config_error(tmp_path):
    from zoo.errors import ConfigError

    with pytest.raises(ConfigError, match="train.compile must be bool or .*'reduce-overhead'"):
        config_from_dict(tiny_config(tmp_path, train={"compile": "fast"}))


@pytest.mark.slow
def test_compiled_model_trains(tmp_path):
    summary = train(tiny_config(tmp_path, train={"epochs": 2, "compile": True}))
    assert summary["test"]["acc1"] > 0.6
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    # The checkpoint holds the plain module's keys, not the compiled wrapper's.
    assert not any(k.startswith("_orig_mod") for k in load_state(run_dir / "last.ckpt")["model"])
