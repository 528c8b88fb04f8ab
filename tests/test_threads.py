"""The CPU runtime a run sets up: train.threads (the thread count chosen at start, the busy-core sampling behind auto) and denormals flushed to zero."""

import pytest
import torch

from zoo.engine import runtime
from zoo.engine.config import config_from_dict
from zoo.engine.trainer import train
from zoo.errors import ConfigError

from .conftest import tiny_config


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _stat_sequence(monkeypatch, *samples):
    """Make /proc/stat read as the given (busy, total) jiffies, one sample per read."""
    it = iter(samples)
    monkeypatch.setattr(runtime, "_cpu_times", lambda cpus: next(it))
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)


@pytest.mark.parametrize("busy, free", [(0, 2), (50, 2), (120, 1), (150, 1), (200, 1)])
def test_free_cores_counts_what_others_keep_busy(monkeypatch, busy, free):
    # 200 jiffies over two cores: busy=120 is 1.2 cores taken by other work.
    _stat_sequence(monkeypatch, (1000, 5000), (1000 + busy, 5200))
    assert runtime.free_cores() == free


def test_free_cores_without_proc_stat_trusts_the_affinity(monkeypatch):
    _stat_sequence(monkeypatch, None)
    assert runtime.free_cores() == 2


def test_auto_takes_the_free_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(runtime, "free_cores", lambda: 1)
    torch.set_num_threads(2)
    assert runtime.choose_threads("auto") == 1 == torch.get_num_threads()


def test_auto_shares_the_free_cores_among_local_ranks(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(runtime, "free_cores", lambda: 4)
    assert runtime.choose_threads("auto") == 2


def test_auto_keeps_an_explicit_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(runtime, "free_cores", lambda: pytest.fail("sampled despite OMP_NUM_THREADS"))
    torch.set_num_threads(1)
    assert runtime.choose_threads("auto") == 1


def test_a_number_is_taken_as_given_and_null_leaves_torch_alone():
    assert runtime.choose_threads(3) == 3 == torch.get_num_threads()
    assert runtime.choose_threads(None) == 3


def test_config_accepts_auto_or_a_count_and_says_what_else_would_do(tmp_path):
    assert config_from_dict({"model": {"name": "lenet5"}}).train.threads == "auto"
    assert config_from_dict({"model": {"name": "lenet5"}, "train": {"threads": 2}}).train.threads == 2
    with pytest.raises(ConfigError, match="train.threads must be int or 'auto'"):
        config_from_dict({"model": {"name": "lenet5"}, "train": {"threads": "many"}})
    with pytest.raises(ConfigError, match=">= 1"):
        config_from_dict({"model": {"name": "lenet5"}, "train": {"threads": 0}})


def test_the_first_line_and_summary_name_the_thread_count(tmp_path, capsys):
    summary = train(tiny_config(tmp_path, train={"epochs": 1, "threads": 1}))
    first = capsys.readouterr().out.splitlines()[0]
    assert "1 CPU thread;" in first
    assert summary["threads"] == 1


def test_training_flushes_denormals_to_zero(tmp_path):
    torch.set_flush_denormal(False)
    try:
        denormal = torch.tensor([1e-39])  # below float32's smallest normal, 1.18e-38
        assert (denormal * 2).item() > 0  # IEEE arithmetic keeps it
        train(tiny_config(tmp_path, train={"epochs": 1, "threads": 1}))
        assert (denormal * 2).item() == 0.0
    finally:
        torch.set_flush_denormal(False)
