"""The run directory's owner: leftovers of a run killed mid-write are removed on
resume and on eval, and nothing else in the folder is touched."""

import os
import time

from zoo import rundir
from zoo.atomic import atomic_write_csv, atomic_write_text
from zoo.engine.config import config_from_dict
from zoo.engine.evaluate import evaluate_checkpoint
from zoo.engine.trainer import Trainer

from .conftest import tiny_config

# What a SIGKILL during atomic_write leaves: ".<target>.<8 random chars>.tmp".
LEFTOVERS = (".last.ckpt.k3j_9a0b.tmp", ".summary.json.zz11aa22.tmp", ".metrics.csv.0123abcd.tmp",
             ".ckpt-e0001-s00000010.ckpt.q1w2e3r4.tmp")
# Look-alikes that are not: another file's temp, no random part, no leading dot, more after .tmp.
OTHERS = ("notes.txt", ".notes.txt.abcdefgh.tmp", ".last.ckpt.tmp", "last.ckpt.abcdefgh.tmp",
          ".summary.json.abcdefgh.tmp.keep", ".summary.json.abc.tmp")


def litter(run_dir, names, age=0.0):
    for name in names:
        (run_dir / name).write_text(f"contents of {name}")
        if age:
            old = time.time() - age
            os.utime(run_dir / name, (old, old))


def assert_untouched(run_dir):
    for name in OTHERS:
        assert (run_dir / name).read_text() == f"contents of {name}", name


def test_leftover_names_are_those_atomic_write_uses(tmp_path, monkeypatch):
    """A write killed after its temp file exists leaves a name clean_leftovers matches."""
    seen = []

    def killed(path):
        seen.append(path)
        raise SystemExit  # stands for the kill; atomic_write deletes its temp, so copy the name first

    try:
        rundir.write_last(tmp_path, killed)
    except SystemExit:
        pass
    (tmp_path / seen[0].name).write_text("half a checkpoint")
    assert rundir.clean_leftovers(tmp_path) == [tmp_path / seen[0].name]


def test_clean_leftovers_removes_only_temps_of_the_runs_files(tmp_path):
    atomic_write_text(tmp_path / rundir.CONFIG, "model: {}\n")
    litter(tmp_path, LEFTOVERS + OTHERS)
    removed = rundir.clean_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == sorted(LEFTOVERS)
    assert not any((tmp_path / n).exists() for n in LEFTOVERS)
    assert_untouched(tmp_path)
    assert (tmp_path / rundir.CONFIG).read_text() == "model: {}\n"


def test_older_than_keeps_a_temp_being_written(tmp_path):
    litter(tmp_path, LEFTOVERS[:1], age=3600)
    litter(tmp_path, LEFTOVERS[1:2])  # just written: its writer may still be at it
    removed = rundir.clean_leftovers(tmp_path, older_than=600)
    assert [p.name for p in removed] == [LEFTOVERS[0]]
    assert (tmp_path / LEFTOVERS[1]).exists()


def test_resume_and_eval_clean_leftovers(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 1, "max_steps": 2})
    Trainer(config_from_dict(cfg)).fit()
    (run_dir,) = (tmp_path / "runs" / "tiny").iterdir()
    last = (run_dir / rundir.LAST).read_bytes()

    # Killed while writing: the leftovers beside the whole files.
    litter(run_dir, LEFTOVERS + OTHERS)
    trainer = Trainer(config_from_dict(cfg), resume=run_dir)
    assert trainer.run_dir == run_dir
    assert not any((run_dir / n).exists() for n in LEFTOVERS)
    assert_untouched(run_dir)
    assert (run_dir / rundir.LAST).read_bytes() == last  # the state resumed from, as it was

    # zoo eval of the run: stale leftovers go, a fresh one (a live run's) stays.
    litter(run_dir, LEFTOVERS[:2], age=2 * rundir.STALE_AFTER_S)
    litter(run_dir, LEFTOVERS[2:3])
    result = evaluate_checkpoint(str(run_dir), quiet=True, out=tmp_path / "eval")
    assert 0.0 <= result["metrics"]["acc1"] <= 1.0
    assert not any((run_dir / n).exists() for n in LEFTOVERS[:2])
    assert (run_dir / LEFTOVERS[2]).exists()
    assert_untouched(run_dir)


def test_atomic_write_csv_header_order_blanks_and_extra_keys(tmp_path):
    path = tmp_path / "out" / "results.csv"
    atomic_write_csv(path, [{"b": 2, "a": "x,y", "extra": 9}, {"a": None}], ["a", "b"])
    assert path.read_text() == 'a,b\n"x,y",2\n,\n'
    assert not list(path.parent.glob(".*.tmp"))


def test_error_line_quotes_user_errors_and_names_other_types():
    from zoo.errors import ConfigError, error_line

    assert error_line(ConfigError("bad key\nmore detail")) == "bad key"
    assert error_line(ValueError("shapes differ\ntrace")) == "ValueError: shapes differ"
    assert error_line(KeyError()) == "KeyError"
