"""Exact resume: a run killed with SIGKILL (or stopped with Ctrl-C) and resumed ends
bit-identical to an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from zoo.checkpoint import load_state
from zoo.errors import CheckpointError, ConfigError
from zoo.engine.config import config_from_dict
from zoo.engine.trainer import Trainer

from .conftest import ROOT, run_cli, tiny_config
from .test_engine import read_metrics


def resumable_config(tmp_path, name):
    # Small batches and step checkpoints, so that a kill lands mid-epoch, after a checkpoint.
    return tiny_config(tmp_path, data={"batch_size": 16, "augment": True},
                       model={"activation": "tanh"},
                       optim={"name": "sgd", "lr": 0.05, "momentum": 0.9},
                       sched={"name": "cosine"},
                       train={"epochs": 3, "ckpt_every_steps": 7},
                       run={"name": name})


def write_config(tmp_path, cfg):
    path = tmp_path / f"{cfg['run']['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_train(config_path, *extra):
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", "train", str(config_path), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoints(run_root, proc, count, timeout=240):
    """Wait until last.ckpt has been (re)written ``count`` times; return the run dir."""
    deadline = time.time() + timeout
    seen, last_mtime = 0, None
    while time.time() < deadline:
        ckpts = list(run_root.glob("*/last.ckpt"))
        if ckpts:
            mtime = ckpts[0].stat().st_mtime_ns
            if mtime != last_mtime:
                seen, last_mtime = seen + 1, mtime
                if seen >= count:
                    return ckpts[0].parent
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.005)
    pytest.fail("no checkpoint appeared in time")


def final_weights(run_dir):
    return load_state(run_dir / "last.ckpt")["model"]


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    reference = resumable_config(tmp_path, "reference")
    Trainer(config_from_dict(reference)).fit()
    (ref_dir,) = (tmp_path / "runs" / "reference").iterdir()

    cfg = resumable_config(tmp_path, "killed")
    path = write_config(tmp_path, cfg)
    proc = start_train(path)
    run_dir = wait_for_checkpoints(tmp_path / "runs" / "killed", proc, count=3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_state(run_dir / "last.ckpt")["position"]
    assert killed_at["step"] < 3 * 90, "the kill must land before the end of training"

    resumed = run_cli("train", path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert list((tmp_path / "runs" / "killed").iterdir()) == [run_dir], "resume continues in the same run directory"
    assert read_metrics(run_dir) == read_metrics(ref_dir)
    ref, got = final_weights(ref_dir), final_weights(run_dir)
    assert ref.keys() == got.keys()
    for key in ref:
        assert torch.equal(ref[key], got[key]), key


def test_sigint_writes_last_ckpt_and_exits_130(tmp_path):
    cfg = resumable_config(tmp_path, "interrupted")
    cfg["train"]["ckpt_every_steps"] = 0
    cfg["train"]["epochs"] = 30
    path = write_config(tmp_path, cfg)
    proc = start_train(path)
    run_dir = wait_for_checkpoints(tmp_path / "runs" / "interrupted", proc, count=1)  # end of epoch 1
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "resume with --resume" in err
    position = load_state(run_dir / "last.ckpt")["position"]
    assert 1 <= position["epoch"] < 30


def test_resume_with_another_config_is_refused_unless_forced(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 1})
    Trainer(config_from_dict(cfg)).fit()
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    changed = tiny_config(tmp_path, train={"epochs": 2}, optim={"lr": 0.001})
    with pytest.raises(ConfigError, match=r"optim\.lr, train\.epochs"):
        Trainer(config_from_dict(changed), resume=run_dir)
    summary = Trainer(config_from_dict(changed), resume=run_dir, force=True).fit()
    assert summary["epochs"] == 2
    assert [r["epoch"] for r in read_metrics(run_dir)] == ["1", "2"]


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None])
def test_resume_of_junk_is_one_clear_line(tmp_path, content):
    target = tmp_path / "bad.ckpt"
    if content is None:  # a real checkpoint, truncated
        cfg = tiny_config(tmp_path, train={"epochs": 1})
        Trainer(config_from_dict(cfg)).fit()
        (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
        data = (run_dir / "last.ckpt").read_bytes()
        target.write_bytes(data[: len(data) // 2])
    else:
        target.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.ckpt"):
        Trainer(config_from_dict(tiny_config(tmp_path)), resume=target)
    proc = run_cli("train", ROOT / "configs/lenet5_digits.yaml", "--resume", target)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_resume_of_missing_path(tmp_path):
    proc = run_cli("train", "--resume", tmp_path / "nowhere")
    assert proc.returncode == 2
    assert "nothing to resume" in proc.stderr
