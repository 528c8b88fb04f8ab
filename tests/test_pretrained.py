"""Checkpoints and pretrained weights: round trips, safe loading, adaptation, sources."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.checkpoint import load_checkpoint, read_metadata, save_checkpoint, save_state
from zoo.engine.config import load_config
from zoo.errors import CheckpointError, ConfigError, UnknownNameError
from zoo.pretrained import (
    MANIFEST,
    WEIGHTS_DIR,
    adapt_first_conv,
    file_sha256,
    published,
    published_file,
    published_names,
)
from zoo.registry import get_model_entry

from zoo.cli import main


def run_cli(*args, cwd=None, capsys=None):
    """The CLI in this process (a subprocess costs seconds of imports on a busy machine)."""
    import os
    import types

    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        code = main([str(a) for a in args])
    finally:
        os.chdir(old)
    out = capsys.readouterr()
    return types.SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

# ---------------------------------------------------------------------------------
# Round trip for every registered model
# ---------------------------------------------------------------------------------
SMALL = {  # argument -> value, applied where a builder takes it
    "num_classes": 3,
    "stem": "small",
    "embed_dim": 16,
    "hidden_size": 16,
    "hidden_channels": (8, 8),
    "maps": 8,
    "vocab_size": 50,
}
BIG_PARAMS = 12_000_000  # round trips above this are in the slow set


def small_kwargs(name: str) -> dict:
    entry = get_model_entry(name)
    kwargs = {k: v for k, v in SMALL.items() if k in entry.parameters}
    if "vocab_size" in kwargs and entry.defaults().get("vocab_size", 0) is None:
        kwargs.pop("vocab_size")  # recurrent classifiers default to feature input
    return kwargs


def _round_trip_params() -> list:
    params = []
    for name in zoo.list_models():
        with torch.device("meta"):
            n = sum(p.numel() for p in zoo.create_model(name, **small_kwargs(name)).parameters())
        marks = [pytest.mark.slow] if n > BIG_PARAMS else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _round_trip_params())
def test_checkpoint_round_trip_every_model(name, tmp_path):
    torch.manual_seed(0)
    kwargs = small_kwargs(name)
    model = zoo.create_model(name, **kwargs)
    path = save_checkpoint(model, tmp_path / f"{name}.safetensors", dataset="unit", classes=["a", "b", "c"])
    meta = read_metadata(path)
    assert meta["model"] == name and meta["model_kwargs"] == json.loads(json.dumps(kwargs))
    loaded = load_checkpoint(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.zoo_meta["classes"] == ["a", "b", "c"]
    want, got = model.state_dict(), loaded.state_dict()
    assert list(want) == list(got)
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_round_trip_outputs_equal(tmp_path):
    model = zoo.create_model("lenet5", activation="relu", pool="max").eval()
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(load_checkpoint(path)(x), model(x), rtol=0, atol=0)


# ---------------------------------------------------------------------------------
# Unsafe and damaged files
# ---------------------------------------------------------------------------------
class _Payload:
    """Unpickling this would create a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("suffix", [".ckpt", ".pth"])
def test_hostile_pickle_refused_and_not_run(tmp_path, suffix):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / f"evil{suffix}"
    state = {"model": zoo.create_model("lenet5").state_dict(), "config": {}, "x": _Payload(marker)}
    torch.save(state, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused") as err:
        if suffix == ".ckpt":
            load_checkpoint(path)
        else:
            zoo.create_model("lenet5", pretrained=str(path))
    assert "\n" not in str(err.value)
    assert not marker.exists()


def test_hostile_pickle_cli_one_line(tmp_path, capsys):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.ckpt"
    torch.save({"model": {}, "config": {}, "x": _Payload(marker)}, path)
    proc = run_cli("eval", path, capsys=capsys)
    assert proc.returncode == 2
    assert "refused" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def _one_line_error(fn) -> str:
    with pytest.raises(CheckpointError) as err:
        fn()
    text = str(err.value)
    assert text and "\n" not in text
    return text


def test_junk_and_truncated_files(tmp_path):
    model = zoo.create_model("lenet5")
    good = save_checkpoint(model, tmp_path / "good.safetensors")
    data = good.read_bytes()
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01 not a checkpoint " * 10)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    for path in (junk, cut):
        _one_line_error(lambda p=path: load_checkpoint(p))
        _one_line_error(lambda p=path: zoo.create_model("lenet5", pretrained=str(p)))
    # A training state cut short, and pickles of junk.
    state = tmp_path / "state.ckpt"
    save_state({"model": model.state_dict(), "config": {}}, state)
    raw = state.read_bytes()
    state.write_bytes(raw[: len(raw) // 3])
    _one_line_error(lambda: load_checkpoint(state))
    pth = tmp_path / "junk.pth"
    pth.write_bytes(b"PK\x03\x04 garbage")
    _one_line_error(lambda: zoo.create_model("lenet5", pretrained=str(pth)))
    # Edited tensors no longer match the sha256 in the metadata.
    edited = bytearray(data)
    edited[-4:] = b"\x7f\x7f\x7f\x7f"
    bad = tmp_path / "edited.safetensors"
    bad.write_bytes(bytes(edited))
    assert "sha256" in _one_line_error(lambda: load_checkpoint(bad))
    assert "sha256" in _one_line_error(lambda: zoo.create_model("lenet5", pretrained=str(bad)))
    _one_line_error(lambda: zoo.create_model("lenet5", pretrained=str(tmp_path / "absent.safetensors")))


def test_state_dict_without_tensors_refused(tmp_path):
    path = tmp_path / "empty.pth"
    torch.save({"epoch": 3}, path)
    assert "no state dict" in _one_line_error(lambda: zoo.create_model("lenet5", pretrained=str(path)))


# ---------------------------------------------------------------------------------
# torchvision state dicts, head and first-conv adaptation
# ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tv_resnet18(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18()  # random init: no network here
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(net.state_dict(), path)
    return path, {k: v.clone() for k, v in net.state_dict().items()}


def test_torchvision_resnet18_in_chans_1_num_classes_10(tv_resnet18, caplog):
    path, ref = tv_resnet18
    with caplog.at_level(logging.WARNING, logger="zoo.pretrained"):
        model = zoo.create_model("resnet18", pretrained=str(path), in_chans=1, num_classes=10)
    torch.testing.assert_close(model.conv1.weight, ref["conv1.weight"].sum(1, keepdim=True), rtol=0, atol=0)
    assert model.fc.weight.shape == (10, 512)
    for key in ("layer1.0.conv1.weight", "layer4.1.bn2.running_var", "bn1.weight"):
        assert torch.equal(model.state_dict()[key], ref[key])
    out = model.eval()(torch.randn(2, 1, 64, 64))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "conv1.weight adapted from 3 to 1" in messages and "new 10-class head" in messages
    assert model.zoo_config == {"name": "resnet18", "kwargs": {"num_classes": 10, "in_chans": 1}}


def test_torchvision_state_dict_exact_and_k_channels(tv_resnet18):
    path, ref = tv_resnet18
    model = zoo.create_model("resnet18", pretrained=str(path))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ref.items())
    four = zoo.create_model("resnet18", pretrained=str(path), in_chans=4)
    w = ref["conv1.weight"]
    expected = torch.cat([w, w[:, :1]], 1) * (3 / 4)
    torch.testing.assert_close(four.conv1.weight, expected)
    assert torch.equal(four.fc.weight, ref["fc.weight"])


def test_adapt_first_conv_keeps_response():
    w = torch.randn(8, 3, 3, 3)
    grey = torch.randn(1, 1, 9, 9)
    # A grey image seen as RGB gives what the summed filter gives on one channel.
    f = torch.nn.functional.conv2d
    torch.testing.assert_close(f(grey, adapt_first_conv(w, 1)), f(grey.expand(1, 3, 9, 9), w))
    six = adapt_first_conv(w, 6)
    assert six.shape == (8, 6, 3, 3)
    torch.testing.assert_close(f(grey.expand(1, 6, 9, 9), six), f(grey.expand(1, 3, 9, 9), w))


def test_torchvision_weights_from_hub_cache_offline(tv_resnet18, tmp_path, monkeypatch):
    """pretrained="torchvision" reads the official file from the torch hub cache (TORCH_HOME)."""
    import torchvision.models as tvm

    path, ref = tv_resnet18
    weights = tvm.get_model_weights("resnet18").DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    assert str(tmp_path) in str(cache)  # conftest points TORCH_HOME into tmp_path
    cache.mkdir(parents=True)
    (cache / Path(weights.url).name).write_bytes(path.read_bytes())
    model = zoo.create_model("resnet18", pretrained="torchvision", num_classes=7)
    assert torch.equal(model.layer3[0].conv1.weight, ref["layer3.0.conv1.weight"])
    assert model.fc.out_features == 7
    assert model.zoo_meta["dataset"] == "imagenet-1k" and "IMAGENET1K" in model.zoo_meta["pretrained"]


def test_torchvision_weights_offline_without_cache(monkeypatch):
    import urllib.error

    import torchvision.models._api as api

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    text = _one_line_error(lambda: zoo.create_model("resnet18", pretrained="torchvision"))
    assert "resnet18-" in text and "hub" in text and "no network" in text
    with pytest.raises(ConfigError, match="torchvision has no weights"):
        zoo.create_model("resnet20", pretrained="torchvision")


def test_missing_and_unexpected_keys_named(tmp_path):
    state = zoo.create_model("lenet5").state_dict()
    state.pop("features.0.bias")
    for i in range(12):
        state[f"extra.{i}.weight"] = torch.zeros(1)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    text = _one_line_error(lambda: zoo.create_model("lenet5", pretrained=str(path)))
    assert "missing 1: features.0.bias" in text
    assert "unexpected 12: extra.0.weight" in text and "(+2 more)" in text


def test_zoo_checkpoint_kwargs_are_the_base(tmp_path, caplog):
    torch.manual_seed(0)
    src = zoo.create_model("lenet5", activation="relu", pool="max", num_classes=10)
    path = save_checkpoint(src, tmp_path / "l.safetensors", classes=[str(i) for i in range(10)], dataset="mnist")
    same = zoo.create_model("lenet5", pretrained=str(path))
    assert same.zoo_config["kwargs"] == {"activation": "relu", "pool": "max", "num_classes": 10}
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), src.state_dict().values()))
    assert same.zoo_meta["classes"] == [str(i) for i in range(10)]
    with caplog.at_level(logging.WARNING, logger="zoo.pretrained"):
        five = zoo.create_model("lenet5", pretrained=str(path), num_classes=5)
    assert five.classifier[-1].out_features == 5
    assert torch.equal(five.features[3].weight, src.features[3].weight)
    assert torch.equal(five.classifier[1].weight, src.classifier[1].weight)
    assert "classes" not in five.zoo_meta
    assert any("new 5-class head (checkpoint has 10)" in r.getMessage() for r in caplog.records)
    # A user argument that changes the architecture elsewhere is a clear error.
    text = _one_line_error(lambda: zoo.create_model("lenet5", pretrained=str(path), fc=(100, 84)))
    assert "classifier.1.weight" in text
    # Weights of another model.
    assert "lenet5 weights" in _one_line_error(lambda: zoo.create_model("resnet20", pretrained=str(path)))


def test_bare_state_dict_infers_head_size(tmp_path):
    """A fine-tuned torchvision-style state dict needs no num_classes to load as it is."""
    src = zoo.create_model("resnet20", num_classes=4)
    path = tmp_path / "r20.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    model = zoo.create_model("resnet20", pretrained=str(path))
    assert model.zoo_config["kwargs"]["num_classes"] == 4
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), src.state_dict().values()))


# ---------------------------------------------------------------------------------
# URLs with their sha256
# ---------------------------------------------------------------------------------
def test_url_with_sha256_is_cached_and_checked(tmp_path):
    src = zoo.create_model("lenet5", activation="relu", pool="max")
    path = save_checkpoint(src, tmp_path / "served" / "lenet.safetensors")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    url = path.as_uri() + f"#sha256={sha}"
    model = zoo.create_model("lenet5", pretrained=url)
    assert torch.equal(model.features[0].weight, src.features[0].weight)
    cached = list((Path(zoo.pretrained.zoo_home()) / "weights").glob("*lenet.safetensors"))
    assert len(cached) == 1 and file_sha256(cached[0]) == sha
    path.unlink()  # served no more: the cache answers
    assert torch.equal(zoo.create_model("lenet5", pretrained=url).features[0].weight, src.features[0].weight)
    # A cached file that changed is deleted, and the load fails.
    cached[0].write_bytes(b"tampered")
    assert "deleted" in _one_line_error(lambda: zoo.create_model("lenet5", pretrained=url))
    assert not cached[0].exists()


def test_url_sha256_mismatch_deletes_download(tmp_path):
    path = save_checkpoint(zoo.create_model("lenet5"), tmp_path / "x.safetensors")
    url = path.as_uri() + "#sha256=" + "0" * 64
    text = _one_line_error(lambda: zoo.create_model("lenet5", pretrained=url))
    assert "sha256" in text and "deleted" in text
    folder = Path(zoo.pretrained.zoo_home()) / "weights"
    assert not any(folder.iterdir())  # neither the file nor a partial download is left
    with pytest.raises(ConfigError, match="sha256"):
        zoo.create_model("lenet5", pretrained=path.as_uri())


def test_url_download_failure_one_line(tmp_path):
    url = (tmp_path / "absent.safetensors").as_uri() + "#sha256=" + "a" * 64
    assert "cannot download" in _one_line_error(lambda: zoo.create_model("lenet5", pretrained=url))


def test_bad_pretrained_values():
    with pytest.raises(ConfigError, match="not a published tag"):
        zoo.create_model("lenet5", pretrained="imagenet")
    with pytest.raises(ConfigError, match="no weights are published"):
        zoo.create_model("resnet110", pretrained=True)


# ---------------------------------------------------------------------------------
# Published weights
# ---------------------------------------------------------------------------------
def test_manifest_consistent_with_files():
    entries = published()
    assert sorted(entries) == published_names()
    total = 0
    for name, entry in entries.items():
        path = published_file(name)
        assert path.parent == WEIGHTS_DIR
        total += path.stat().st_size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        meta = read_metadata(path)
        assert meta["model"] == entry["model"] and meta["dataset"] == entry["dataset"]
        assert name == f"{entry['model']}.{entry['tag']}"
        for key in ("config", "command", "epochs"):
            assert entry.get(key), f"{name}: manifest lacks {key}"
        assert (MANIFEST.parents[2] / entry["config"]).is_file(), entry["config"]
        # The config the manifest names is the one that trained these weights.
        overrides = [t for t in entry["command"].split() if "=" in t and not t.startswith("data.root=")]
        cfg = load_config(MANIFEST.parents[2] / entry["config"], overrides)
        assert (cfg.model.name, cfg.train.epochs, cfg.data.name) == (entry["model"], entry["epochs"], entry["dataset"])
        assert entry["config"] in entry["command"]
        # What `zoo eval` printed is what the training run measured on the same split.
        model = zoo.create_model(name, pretrained=True)
        assert model.zoo_meta["pretrained"] == f"published {name}"
        test_metric = (meta.get("metrics") or {}).get(f"test_{entry['metric']}")
        if test_metric is not None:
            assert abs(test_metric - entry["value"]) < 1e-4, (name, test_metric, entry["value"])
    assert total < 20 * 10**6  # the package's weight budget (issue 14: under 20 MB in all)


def test_published_lenet5_mnist():
    assert "lenet5.mnist" in published()  # shipped in zoo/weights
    entry = published()["lenet5.mnist"]
    assert entry["metric"] == "acc1" and entry["value"] >= 0.993 and entry["dataset"] == "mnist"
    model = zoo.create_model("lenet5.mnist", pretrained=True)
    same = zoo.create_model("lenet5", pretrained="mnist")
    ref = load_checkpoint(published_file("lenet5.mnist"))
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(model.eval()(x), ref(x))
    torch.testing.assert_close(same.eval()(x), ref(x))
    assert model.zoo_meta["classes"] == [str(i) for i in range(10)]
    assert "lenet5.mnist" in zoo.list_models(pretrained=True)
    assert "lenet5.mnist" in zoo.model_info("lenet5")["pretrained"]


def test_published_file_errors():
    with pytest.raises(UnknownNameError, match="no published weights"):
        published_file("lenet5.imagenet")


def test_cli_list_pretrained(capsys):
    proc = run_cli("list", "--pretrained", capsys=capsys)
    if not published():
        assert proc.returncode == 1
        return
    assert proc.returncode == 0, proc.stderr
    for name, entry in published().items():
        line = next(l for l in proc.stdout.splitlines() if l.startswith(name))
        assert entry["dataset"] in line and str(entry["value"]) in line


def _write_idx(path: Path, array: np.ndarray) -> None:
    magic = {1: 2049, 3: 2051}[array.ndim]
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_cli_eval_published_name(tmp_path, capsys):
    """`zoo eval lenet5.mnist --json` finds the shipped file; data here is a tiny fake MNIST."""
    assert "lenet5.mnist" in published()  # shipped in zoo/weights
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 16)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    proc = run_cli("eval", "lenet5.mnist", f"data.root={tmp_path / 'data'}", "--json", "--out", tmp_path, cwd=tmp_path,
                   capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["n"] == 16 and 0 <= metrics["acc1"] <= 1
    assert (tmp_path / "confusion_mnist_test.png").is_file()  # --out asked for the plot
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_cli("eval", "lenet5.mnist", f"data.root={tmp_path / 'data'}", "--json", cwd=elsewhere, capsys=capsys)
    assert proc.returncode == 0, proc.stderr
    assert list(elsewhere.iterdir()) == []  # nothing written into the folder it ran in
    bad = run_cli("eval", "lenet5.nope", cwd=tmp_path, capsys=capsys)
    assert bad.returncode == 2 and "no published weights" in bad.stderr


def test_declared_heads_and_first_conv_are_adapted(tmp_path, caplog):
    """GoogLeNet declares three classifiers (fc and the two auxiliary fc2) and conv1.conv:
    a bare state dict gives its class count, then all three heads are replaced and the
    first convolution adapted; num_classes=0 removes the heads."""
    torch.manual_seed(0)
    src = zoo.create_model("googlenet", stem="small", num_classes=10)
    ref = {k: v.clone() for k, v in src.state_dict().items()}
    path = tmp_path / "g.pth"
    torch.save(ref, path)
    with caplog.at_level(logging.WARNING, logger="zoo.pretrained"):
        model = zoo.create_model("googlenet", stem="small", pretrained=str(path), num_classes=5, in_chans=1)
    heads = ("fc.", "aux1.fc2.", "aux2.fc2.")
    for name in ("fc", "aux1.fc2", "aux2.fc2"):
        assert model.get_submodule(name).out_features == 5
    assert torch.equal(model.conv1.conv.weight, ref["conv1.conv.weight"].sum(1, keepdim=True))
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith(heads) and k != "conv1.conv.weight"}
    assert kept and all(torch.equal(v, ref[k]) for k, v in kept.items())
    text = " | ".join(r.getMessage() for r in caplog.records)
    assert "new 5-class head (checkpoint has 10)" in text and "aux1.fc2.weight" in text
    assert "conv1.conv.weight adapted from 3 to 1" in text
    # The class count of a bare state dict is read off the declared classifier.
    assert zoo.create_model("googlenet", stem="small", pretrained=str(path)).zoo_config["kwargs"] == {
        "stem": "small", "num_classes": 10}
    lenet = save_checkpoint(zoo.create_model("lenet5"), tmp_path / "l.safetensors")
    headless = zoo.create_model("lenet5", pretrained=str(lenet), num_classes=0).eval()
    assert isinstance(headless.get_classifier(), torch.nn.Identity)
    assert headless(torch.randn(2, 1, 28, 28)).shape == (2, 84)
