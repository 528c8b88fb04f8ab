"""benchmarks/cifar_independent.py: the no-zoo cross-check trains the zoo's ResNet-20 with
the zoo's learning-rate schedule, so a difference between the two runs is the code's."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch

from zoo import create_model
from zoo.engine.config import SchedConfig
from zoo.engine.optim import lr_lambda

from .conftest import ROOT, import_benchmark
from .test_cifar_jpeg import write_copy


@pytest.fixture()
def independent():
    return import_benchmark("cifar_independent")


@pytest.mark.parametrize("train_mode", [False, True])
def test_same_network_as_the_zoo(independent, train_mode):
    ours, theirs = create_model("resnet20"), independent.ResNet20()
    a, b = ours.state_dict(), theirs.state_dict()
    # Same tensors in the same order: conv, BN (5 entries), ..., fc.
    assert [t.shape for t in a.values()] == [t.shape for t in b.values()]
    torch.manual_seed(0)
    for t in a.values():  # non-trivial BN statistics and affine terms, not the init's ones and zeros
        if t.is_floating_point():
            t.copy_(torch.randn_like(t).abs() + 0.5 if t.ndim == 1 else torch.randn_like(t) * 0.1)
    theirs.load_state_dict(dict(zip(b, a.values())))
    ours.train(train_mode), theirs.train(train_mode)
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(theirs(x), ours(x), rtol=1e-4, atol=1e-5)


def test_schedule_matches_the_zoo_recipe(independent):
    steps_per_epoch, epochs = 7, 5
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    sched = independent.schedule(opt, steps=steps_per_epoch * epochs, warmup=2 * steps_per_epoch)
    zoo = lr_lambda(SchedConfig(name="cosine", warmup_epochs=2), base_lr=0.1, steps_per_epoch=steps_per_epoch,
                    total_steps=steps_per_epoch * epochs)
    for step in range(steps_per_epoch * epochs):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * zoo(step), abs=1e-9), step
        opt.step()
        sched.step()


def test_trains_on_a_small_copy(tmp_path):
    write_copy(tmp_path, np.random.default_rng(0), (("train", 40), ("test", 12)))
    out = tmp_path / "ind.csv"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cifar_independent.py"), "--root", str(tmp_path),
                           "--epochs", "2", "--warmup-epochs", "1", "--amp", "off", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "269,722 parameters, 1 steps an epoch" in done.stdout
    rows = list(csv.DictReader(out.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(0 <= float(r["test_acc"]) <= 1 for r in rows)
    assert float(rows[-1]["lr"]) == 0.0  # the cosine ends at zero
