"""Kim (2014) protocol pieces: MR's 10-fold split and dev carve-out, the word-vector
init, the max-norm constraint in training, testing the best dev epoch, Adadelta."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from zoo.checkpoint import load_checkpoint
from zoo.data import build_dataset
from zoo.data.text import Vocab
from zoo.engine.config import DataConfig, OptimConfig
from zoo.engine.optim import build_optimizer
from zoo.engine.tasks import make_task
from zoo.engine.trainer import evaluate, train

GOOD = ["great", "fine", "superb", "lovely", "moving"]
BAD = ["awful", "dull", "poor", "boring", "ugly"]


def write_mr(root: Path, per_class: int = 50) -> list[str]:
    """``per_class`` distinct snippets a class; each carries its own id word."""
    d = root / "rt-polarity"
    d.mkdir(parents=True)
    pos = [f"id{i} a {GOOD[i % 5]} film" for i in range(per_class)]
    neg = [f"id{per_class + i} a {BAD[i % 5]} film" for i in range(per_class)]
    (d / "rt-polarity.pos").write_text("\n".join(pos) + "\n", encoding="latin-1")
    (d / "rt-polarity.neg").write_text("\n".join(neg) + "\n", encoding="latin-1")
    return neg + pos


def texts_of(loader, vocab: Vocab) -> list[str]:
    return [vocab.decode(t[:n]) for tokens, lengths, _ in loader for t, n in zip(tokens, lengths)]


def test_mr_ten_folds_are_disjoint_cover_the_data_and_carve_a_dev_set(tmp_path):
    everything = write_mr(tmp_path)
    every_word = Vocab.build(everything, tokenizer="kim").to_dict()  # decoding is exact
    tests, seen_dev = [], []
    for fold in range(10):
        cfg = DataConfig(name="mr", root=str(tmp_path), batch_size=7, val_split=0.1,
                         options={"folds": 10, "fold": fold, "vocab": every_word, "tokenizer": "kim"})
        b = build_dataset(cfg)
        voc = b.info.vocab
        train, dev, test = texts_of(b.train, voc), texts_of(b.val, voc), texts_of(b.test, voc)
        assert len(test) == 10 and len(dev) == 9 and len(train) == 81  # 10% test; 10% of the other 90 as dev
        assert not set(train) & set(test) and not set(dev) & set(test) and not set(train) & set(dev)
        assert sorted(train + dev + test) == sorted(everything)
        assert b.info.extra["folds"] == 10 and b.info.extra["fold"] == fold
        # Deterministic: the same options give the same three sets.
        again = build_dataset(cfg)
        assert texts_of(again.test, voc) == test and sorted(texts_of(again.val, voc)) == sorted(dev)
        tests += test
        seen_dev.append(frozenset(dev))
    assert sorted(tests) == sorted(everything)  # every snippet is tested exactly once
    assert len(set(seen_dev)) == 10


def test_mr_vocabulary_comes_from_the_training_part_only(tmp_path):
    write_mr(tmp_path)
    b = build_dataset(DataConfig(name="mr", root=str(tmp_path), batch_size=8, val_split=0.1,
                                 options={"folds": 10, "fold": 3, "tokenizer": "kim"}))
    voc = b.info.vocab
    test_ids = {w for s in texts_of(b.test, voc) for w in s.split() if w.startswith("id")}
    assert not test_ids, "a test snippet's own id word is unknown to the vocabulary"
    assert sum(w.startswith("id") for w in voc.itos) == 81


def test_textcnn_word_vectors_start_as_kims():
    torch.manual_seed(0)
    model = zoo.create_model("textcnn", vocab_size=2000, embed_dim=300, maps=4)
    w = model.embedding.weight.detach()
    assert torch.equal(w[0], torch.zeros(300))  # <pad>
    rest = w[1:]
    assert rest.abs().max() <= 0.25 and rest.min() < -0.24 and rest.max() > 0.24
    assert abs(float(rest.std()) - 0.5 / 12**0.5) < 0.005  # U[-0.25, 0.25]: std 0.144


def _textcnn_run(tmp_path, name: str, **train_opts):
    write_mr(tmp_path)
    return train({
        "model": {"name": "textcnn", "embed_dim": 16, "maps": 8, "max_norm": train_opts.pop("max_norm", 3.0)},
        "data": {"name": "mr", "root": str(tmp_path), "folds": 10, "fold": 0, "tokenizer": "kim", "val_split": 0.1,
                 "batch_size": 10},
        "optim": {"name": train_opts.pop("optim", "adam"), "lr": train_opts.pop("lr", 0.01)},
        "train": {"epochs": 3, "seed": 0, "device": "cpu", **train_opts},
        "log": {"progress": "off"},
        "run": {"dir": str(tmp_path / "runs"), "name": name},
    })


def test_max_norm_holds_through_training(tmp_path):
    summary = _textcnn_run(tmp_path, "maxnorm", max_norm=0.05, lr=0.05)
    model = load_checkpoint(Path(summary["run_dir"]) / "last.ckpt")
    norms = model.fc.weight.norm(dim=1)
    assert (norms <= 0.05 + 1e-6).all() and (norms > 0.049).all()  # pressed onto the constraint


def test_restore_best_tests_the_best_dev_epoch(tmp_path):
    # monitor the dev loss with mode=max: the best epoch is the first (the loss falls), not the last.
    summary = _textcnn_run(tmp_path, "best", restore_best=True, monitor="loss", mode="max")
    run = Path(summary["run_dir"])
    assert summary["best"]["epoch"] == 1 and summary["epochs"] == 3 and summary["tested"] == "best epoch 1"
    data = build_dataset(DataConfig(name="mr", root=str(tmp_path), batch_size=10, val_split=0.1,
                                    options={"folds": 10, "fold": 0, "tokenizer": "kim"}))
    task = make_task(data.info)
    cpu = torch.device("cpu")
    best = evaluate(load_checkpoint(run / "best.safetensors"), data.test, task, cpu)
    last = evaluate(load_checkpoint(run / "last.ckpt"), data.test, task, cpu)
    assert summary["test"]["loss"] == pytest.approx(best["loss"], rel=1e-6)
    assert summary["test"]["loss"] != pytest.approx(last["loss"], rel=1e-6)
    assert json.loads((run / "summary.json").read_text())["tested"] == "best epoch 1"
    plain = _textcnn_run(tmp_path / "plain", "last", monitor="loss", mode="max")
    assert plain["tested"] == "last epoch" and plain["test"]["loss"] == pytest.approx(last["loss"], rel=1e-6)


def test_adadelta_as_kim():
    model = torch.nn.Linear(3, 2)
    opt = build_optimizer(model, OptimConfig(name="adadelta", lr=1.0, rho=0.95, eps=1e-6))
    assert isinstance(opt, torch.optim.Adadelta)
    group = opt.param_groups[0]
    assert (group["lr"], group["rho"], group["eps"]) == (1.0, 0.95, 1e-6)
