"""`zoo export`: TorchScript (always) and ONNX (when onnx is installed) equal the eager model."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import zoo
from zoo.checkpoint import load_checkpoint, save_checkpoint
from zoo.cli import main
from zoo.export import example_input, export

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")

HAS_ONNX = importlib.util.find_spec("onnx") is not None
HAS_ORT = HAS_ONNX and importlib.util.find_spec("onnxruntime") is not None


def _ckpt(tmp_path, name="lenet5", input_size=(1, 28, 28), **kwargs):
    torch.manual_seed(0)
    model = zoo.create_model(name, **kwargs)
    return save_checkpoint(model, tmp_path / f"{name}.safetensors", input_size=list(input_size), dataset="unit")


def test_cli_torchscript_equals_eager(tmp_path, capsys):
    ckpt = _ckpt(tmp_path, activation="relu", pool="max")
    out = tmp_path / "lenet.pt"
    assert main(["export", str(ckpt), "--format", "torchscript", "--out", str(out)]) == 0
    assert "outputs equal the eager model's" in capsys.readouterr().out
    extra = {"zoo.json": ""}
    scripted = torch.jit.load(str(out), _extra_files=extra)
    info = json.loads(extra["zoo.json"])
    assert info["model"] == "lenet5" and info["example_shape"] == [2, 1, 28, 28]
    eager = load_checkpoint(ckpt)
    for batch in (1, 5):  # the batch dimension stays free
        x = torch.randn(batch, 1, 28, 28)
        torch.testing.assert_close(scripted(x), eager(x), rtol=1e-5, atol=1e-6)


def test_default_output_path_and_json(tmp_path, capsys):
    ckpt = _ckpt(tmp_path)
    assert main(["export", str(ckpt), "--format", "torchscript", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(ckpt.with_suffix(".pt")) and result["max_abs_diff"] <= 1e-5
    assert ckpt.with_suffix(".pt").is_file()


def _cnn_cases():
    cases = [
        ("resnet20", {}),
        ("resnet18", {"num_classes": 3, "stem": "small"}),
    ]
    slow = [("googlenet", {"num_classes": 3, "stem": "small"}), ("vgg11_bn", {"num_classes": 3, "stem": "small"}), ("alexnet", {"num_classes": 3, "stem": "small"})]
    return [pytest.param(n, k, id=n) for n, k in cases] + [pytest.param(n, k, id=n, marks=pytest.mark.slow) for n, k in slow]


@pytest.mark.parametrize("name,kwargs", _cnn_cases())
def test_torchscript_cnn_families(tmp_path, name, kwargs):
    torch.manual_seed(0)
    model = zoo.create_model(name, **kwargs).eval()
    model.zoo_meta = {"model": name, "input_size": [3, 32, 32]}
    result = export(model, "torchscript", tmp_path / f"{name}.pt")
    assert result["max_abs_diff"] is not None and result["max_abs_diff"] < 1e-4
    scripted = torch.jit.load(result["path"])
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=1e-4, atol=1e-5)


def _recurrent_cases():
    return [
        pytest.param("rnn", {"hidden_size": 16}, [28, 28], id="rnn"),
        pytest.param("gru", {"hidden_size": 16, "num_layers": 2}, [28, 28], id="gru"),
        pytest.param("lstm", {"hidden_size": 16, "bidirectional": True}, [28, 28], id="lstm"),
        pytest.param("lstm", {"task": "lm", "vocab_size": 40, "embed_dim": 16, "hidden_size": 16}, [12], id="lstm-lm"),
        pytest.param("textcnn", {"vocab_size": 40, "embed_dim": 16, "maps": 4}, [12], id="textcnn"),
        pytest.param("convlstm", {"hidden_channels": (4, 4), "frames_out": 2}, [3, 1, 16, 16], id="convlstm"),
    ]


@pytest.mark.parametrize("name,kwargs,input_size", _recurrent_cases())
def test_torchscript_recurrent_and_text_models(tmp_path, name, kwargs, input_size):
    ckpt = _ckpt(tmp_path, name, input_size, **kwargs)
    result = export(ckpt, "torchscript", tmp_path / f"{name}.pt")
    eager = load_checkpoint(ckpt)
    x = example_input(eager, eager.zoo_meta)
    assert list(x.shape) == result["example_shape"]
    scripted = torch.jit.load(result["path"])
    with torch.no_grad():  # the eager model runs its fused recurrent layers; the export the plain loop
        torch.testing.assert_close(scripted(x), eager(x), rtol=1e-4, atol=1e-5)


def test_published_name_exports(tmp_path, capsys):
    assert "lenet5.mnist" in zoo.list_models(pretrained=True)  # shipped in zoo/weights
    out = tmp_path / "l.pt"
    assert main(["export", "lenet5.mnist", "--format", "torchscript", "--out", str(out)]) == 0
    assert out.is_file()


@pytest.mark.skipif(HAS_ONNX, reason="onnx is installed")
def test_onnx_without_onnx_is_one_clear_line(tmp_path, capsys):
    ckpt = _ckpt(tmp_path)
    assert main(["export", str(ckpt), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install onnx" in err
    assert not ckpt.with_suffix(".onnx").exists()


@pytest.mark.skipif(not HAS_ORT, reason="needs onnx and onnxruntime")
@pytest.mark.parametrize("name,kwargs,input_size", [
    ("lenet5", {}, (1, 28, 28)),
    ("resnet20", {}, (3, 32, 32)),
    ("rnn", {"hidden_size": 16, "num_layers": 2}, (28, 28)),
    ("gru", {"hidden_size": 16}, (28, 28)),
    ("lstm", {"hidden_size": 16, "bidirectional": True}, (28, 28)),
    ("lstm", {"task": "lm", "vocab_size": 40, "embed_dim": 16, "hidden_size": 16}, (12,)),
])
def test_onnx_equals_eager(tmp_path, name, kwargs, input_size):
    import onnxruntime as ort

    ckpt = _ckpt(tmp_path, name, input_size, **kwargs)
    result = export(ckpt, "onnx", tmp_path / f"{name}.onnx")
    assert result["max_abs_diff"] is not None and result["max_abs_diff"] < 1e-4
    eager = load_checkpoint(ckpt)
    session = ort.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    batch = 5 if len(input_size) == 3 else 2  # CNNs keep a free batch axis
    x = example_input(eager, eager.zoo_meta, batch=batch, seed=1)
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), eager(x), rtol=1e-4, atol=1e-5)


def test_export_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "absent.safetensors"), "--format", "torchscript"]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["export", "x", "--format", "tflite"]) == 2
    assert "invalid choice" in capsys.readouterr().err
