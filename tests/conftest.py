import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# One intra-op thread: the suite is many small ops, where a second OpenMP thread
# costs more than it gives (and a shared 2-core machine makes it spin); subprocesses too.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    """No test reads or writes the user's caches or data."""
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "zoo_data"))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def import_benchmark(name):
    """A script of benchmarks/ as a module (the folder is not a package)."""
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def run_cli(*args, cwd=None, timeout=300, env=None):
    """Run `python -m zoo.cli ARGS` in a real subprocess (exit codes, stderr, signals)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, env=full_env)


def tiny_config(tmp_path, **sections):
    """A LeNet-5 on digits config that trains in about a second."""
    cfg = {
        "model": {"name": "lenet5", "activation": "relu", "pool": "max"},
        "data": {"name": "digits", "batch_size": 64},
        "optim": {"name": "adam", "lr": 0.003},
        "train": {"epochs": 2, "seed": 0, "device": "cpu", "deterministic": True},
        "log": {"progress": "off"},
        "run": {"dir": str(tmp_path / "runs"), "name": "tiny"},
    }
    for key, values in sections.items():
        cfg.setdefault(key, {}).update(values)
    return cfg
