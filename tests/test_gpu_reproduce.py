"""benchmarks/gpu_reproduce.py on the CPU with a tiny budget, so that the GPU run is a
single call: concurrent rows, the table of the finished ones, the checkpoints under
the output folder, and the time limit that stops and lists the unfinished rows."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from .conftest import ROOT, import_benchmark
from .test_data_vision import make_cifar10

SCRIPT = ROOT / "benchmarks" / "gpu_reproduce.py"
CPU = ["--device", "cpu", "--amp", "off", "--no-compile", "--no-channels-last", "data.batch_size=16"]


def run(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_gpu_reproduce_tiny_on_cpu(tmp_path):
    make_cifar10(tmp_path / "data", per_batch=8, n_test=16)
    # $OUT decides the output folder, as on the device machine; ZOO_REPRO_DATA the data.
    env = {"OUT": str(tmp_path / "OUT"), "ZOO_REPRO_DATA": str(tmp_path / "data")}
    done = run("--epochs-scale", "0.0001", "--models", "resnet20", "resnet32", *CPU, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "OUT" / "he2016_cifar10_paper"
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["status"], float(r["paper"])) for r in rows] == [("ResNet-20", "ok", 8.75),
                                                                         ("ResNet-32", "ok", 7.51)]
    assert all(int(r["epochs"]) == 1 and int(r["paper_epochs"]) == 164 and r["short_budget"] == "True" for r in rows)
    for slug, model in (("resnet-20", "resnet20"), ("resnet-32", "resnet32")):
        run_dir = out / slug / model
        assert (run_dir / "best.safetensors").is_file() and (run_dir / "last.ckpt").is_file()
        cfg = (run_dir / "config.yaml").read_text()
        # The paper's schedule compressed 10^4 times: 64000 -> 6 steps, milestones 32k/48k -> 3/5.
        assert "max_steps: 6" in cfg and "- 3\n" in cfg and "- 5\n" in cfg
        assert (out / "logs" / f"{model}.log").is_file()
    md = (out / "results.md").read_text()
    assert "| ResNet-20 | `resnet20` | 8.75 |" in md and "| ResNet-32 | `resnet32` | 7.51 |" in md
    record = json.loads((out / "gpu_reproduce.json").read_text())
    assert record["finished"] == ["resnet20", "resnet32"] and record["unfinished"] == []

    # A time limit too short for a row: it is stopped, listed, and the script says so.
    done = run("--epochs-scale", "0.01", "--models", "resnet44", "--time-limit", "1", "--out", tmp_path / "short",
               "--data-root", tmp_path / "data", *CPU)
    assert done.returncode == 1
    record = json.loads((tmp_path / "short" / "gpu_reproduce.json").read_text())
    assert record["unfinished"] == ["resnet44"] and record["stopped_at_time_limit"] == ["resnet44"]
    assert "resnet44: stopped at the time limit" in (tmp_path / "short" / "results.md").read_text()


def test_failed_row_under_cuda_graphs_restarts_every_row_in_default_mode(tmp_path):
    make_cifar10(tmp_path / "data", per_batch=8, n_test=16)
    # A negative learning rate fails both rows in either mode: the script restarts them
    # once in the default mode, then reports them as failed.
    cpu = [a for a in CPU if a != "--no-compile"]
    done = run("--epochs-scale", "0.0001", "--models", "resnet20", "resnet32", "--compile-mode", "reduce-overhead",
               "--out", tmp_path / "o", "--data-root", tmp_path / "data", *cpu, "optim.lr=-1")
    assert done.returncode == 1
    assert "failed with train.compile=reduce-overhead" in done.stdout and "default mode" in done.stdout
    record = json.loads((tmp_path / "o" / "gpu_reproduce.json").read_text())
    assert record["compile"] == "default" and record["compile_fallback"] is True
    assert record["finished"] == [] and record["unfinished"] == ["resnet20", "resnet32"]
    for model in ("resnet20", "resnet32"):
        commands = [l for l in (tmp_path / "o" / "logs" / f"{model}.log").read_text().splitlines() if l.startswith("$ ")]
        assert len(commands) == 2
        assert "train.compile=reduce-overhead" in commands[0] and "train.compile=true" in commands[1]


def test_missing_data_is_one_line(tmp_path):
    if (ROOT / "data" / "CIFAR10").is_dir() or (ROOT.parent / "shared" / "data" / "CIFAR10").is_dir():
        pytest.skip("a CIFAR-10 copy beside the checkout would be found")
    done = run("--data-root", tmp_path, "--out", tmp_path / "o", env={"ZOO_REPRO_DATA": str(tmp_path)})
    assert done.returncode == 1 and "no CIFAR-10 found" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture()
def gpu_reproduce():
    return import_benchmark("gpu_reproduce")


def fake_mps_control(folder, *, start_code):
    """A stand-in nvidia-cuda-mps-control that logs its arguments and stdin."""
    folder.mkdir()
    log = folder / "calls.log"
    ctl = folder / "nvidia-cuda-mps-control"
    ctl.write_text(f'#!/bin/sh\necho "args:$* pipe:$CUDA_MPS_PIPE_DIRECTORY" >> {log}\n'
                   f'if [ "$1" = "-d" ]; then exit {start_code}; fi\ncat >> {log}\n')
    ctl.chmod(0o755)
    return log


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback under test needs a machine without CUDA")
@pytest.mark.parametrize("start_code", [0, 1])
def test_mps_falls_back_to_time_sharing(gpu_reproduce, tmp_path, monkeypatch, start_code):
    # A daemon that starts but serves no CUDA process (here: no GPU) is quit again; one that
    # does not start is left alone. Either way the rows' environment stays without MPS.
    log = fake_mps_control(tmp_path / "bin", start_code=start_code)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env = {"PATH": os.environ["PATH"]}
    assert gpu_reproduce.start_mps(env) is None
    assert env == {"PATH": os.environ["PATH"]}
    calls = log.read_text().splitlines()
    assert calls[0].startswith("args:-d pipe:") and calls[0].endswith("/pipe")
    assert calls[1:] == ([calls[0].replace("args:-d", "args:"), "quit"] if start_code == 0 else [])
    pipe = calls[0].split("pipe:", 1)[1]
    assert not os.path.exists(os.path.dirname(pipe))  # its folders are removed


def test_mps_missing_daemon(gpu_reproduce, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    env = {"X": "1"}
    assert gpu_reproduce.start_mps(env) is None and env == {"X": "1"}
