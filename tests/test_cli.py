"""The command line: exit codes and one-line errors, in-process and in a real subprocess."""

import json

import pytest

from zoo.cli import main

from .conftest import ROOT, run_cli


def test_bad_override_prints_one_line_and_exits_2():
    proc = run_cli("train", ROOT / "configs/lenet5_digits.yaml", "optim.lrr=0.1")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "optim.lrr" in lines[0] and "optim.lr?" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["train", "configs/lenet5_digits.yaml", "train.epochs=abc"], "train.epochs"),
        (["train", "configs/lenet5_digits.yaml", "optim.lr=-1"], "optim.lr"),
        (["train", "configs/lenet5_digits.yaml", "data.batch_size=0"], "data.batch_size"),
        (["train", "configs/lenet5_digits.yaml", "model.name=lenet"], "did you mean lenet5"),
        (["train", "configs/lenet5_digits.yaml", "data.name=digit"], "did you mean digits"),
        (["train", "configs/lenet5_digits.yaml", "model.activaton=relu"], "activation"),
        (["train", "configs/lenet5_digits.yaml", "train.device=cuda:99"], "train.device"),
        (["train", "configs/lenet5_digits.yaml", "model.in_chans=3"], "does not fit dataset digits"),
        (["train", "no_such_config.yaml"], "not found"),
        (["info", "resnet"], "unknown model"),
        (["summary", "lenet5", "--input", "a,b"], "--input"),
    ],
)
def test_user_errors(args, needle, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    code = main(args + (["run.dir=" + str(tmp_path / "runs")] if args[0] == "train" else []))
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists(), "a failed config must leave no run directory"


def test_cuda_request_without_cuda(capsys, monkeypatch, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["train", str(ROOT / "configs/lenet5_digits.yaml"), "train.device=cuda", f"run.dir={tmp_path}"])
    assert code == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_list_and_info(capsys):
    assert main(["list", "lenet*"]) == 0
    assert capsys.readouterr().out.split() == ["lenet5", "lenet5_1998"]
    assert main(["info", "lenet5", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == 61_706 and info["family"] == "lenet"
    assert main(["info", "lenet5"]) == 0
    assert "61,706" in capsys.readouterr().out


def test_train_py_is_zoo_train(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "train.py", "configs/lenet5_digits.yaml", "optim.lrr=1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "did you mean optim.lr?" in proc.stderr
