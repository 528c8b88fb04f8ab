"""Moving MNIST reference pieces: SSIM, the fixed test set, the copy-last-frame
baseline, the patch (space-to-depth) ConvLSTM."""

from __future__ import annotations

import json
import math

import pytest
import torch

import zoo
from zoo.data import build_dataset
from zoo.engine.config import DataConfig
from zoo.engine.tasks import make_task, ssim
from zoo.engine.trainer import evaluate, train

from .test_data_sequence import make_mnist


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.tensor([math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(size)], dtype=torch.float64)
    g = g / g.sum()
    return g[:, None] * g[None, :]


# ---------------------------------------------------------------------------------- SSIM
def test_ssim_of_identical_images_is_exactly_one():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 16, 20)
    assert ssim(x, x.clone()).shape == (3, 2)
    assert torch.equal(ssim(x, x.clone()), torch.ones(3, 2))


def test_ssim_of_constant_images_is_the_luminance_term():
    # No variance: SSIM = (2 a b + C1) / (a^2 + b^2 + C1), the contrast-structure term is C2 / C2.
    c1 = 0.01**2
    for a, b in [(0.0, 1.0), (0.2, 0.7), (0.5, 0.5)]:
        got = ssim(torch.full((12, 12), a, dtype=torch.float64), torch.full((12, 12), b, dtype=torch.float64))
        assert float(got) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12, abs=1e-15)


def test_ssim_on_one_window_by_hand():
    """An 11x11 image holds exactly one window: the Gaussian-weighted statistics by hand."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(11, 11, generator=g, dtype=torch.float64)
    y = (0.6 * x + 0.4 * torch.rand(11, 11, generator=g, dtype=torch.float64)).clamp(0, 1)
    w = _gauss()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    cov = (w * (x - mx) * (y - my)).sum()
    c1, c2 = 0.01**2, 0.03**2
    expect = (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert float(ssim(x, y)) == pytest.approx(float(expect), rel=1e-10)
    # The map is averaged over the windows inside the image: 13x13 has 3x3 of them.
    big_x, big_y = torch.rand(13, 13, generator=g, dtype=torch.float64), torch.rand(13, 13, generator=g, dtype=torch.float64)
    windows = [float(ssim(big_x[i : i + 11, j : j + 11], big_y[i : i + 11, j : j + 11])) for i in range(3) for j in range(3)]
    assert float(ssim(big_x, big_y)) == pytest.approx(sum(windows) / 9, rel=1e-10)


def test_ssim_properties():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 24, 24, generator=g)
    y = torch.rand(4, 24, 24, generator=g)
    assert torch.allclose(ssim(x, y), ssim(y, x))  # symmetric
    assert (ssim(x, y) <= 1).all() and (ssim(x, y) >= -1).all()
    # More noise, less similar.
    noisy = [ssim(x, (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1)).mean() for s in (0.05, 0.2, 0.5)]
    assert noisy[0] > noisy[1] > noisy[2]
    # Inverted contrast is anti-correlated structure: negative SSIM.
    assert (ssim(x, 1 - x) < 0).all()
    with pytest.raises(ValueError, match="window"):
        ssim(torch.rand(8, 8), torch.rand(8, 8))
    with pytest.raises(ValueError, match="shape"):
        ssim(torch.rand(12, 12), torch.rand(12, 13))


def test_ssim_under_autocast_is_the_float32_figure():
    """An amp run evaluates inside autocast; the metric must not drop to bf16 there (on
    near-black frames E[x^2] - E[x]^2 in bf16 went negative and the test SSIM came out inf)."""
    g = torch.Generator().manual_seed(3)
    target = torch.zeros(16, 64, 64)
    target[:, 20:40, 10:30] = torch.rand(16, 20, 20, generator=g)  # a blob on black, as a digit
    pred = (target.roll(3, dims=-1) * 0.8 + 0.002 * torch.rand(16, 64, 64, generator=g)).clamp(0, 1)
    expect = ssim(pred, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ssim(pred, target)
    assert got.dtype == torch.float32
    assert torch.equal(got, expect)


def test_evaluation_scores_outside_autocast():
    """Only the forward runs under an amp run's autocast; the task's metrics, as in training,
    see float32 arithmetic."""
    info = type("Info", (), {"task": "frames", "name": "x", "extra": {}})()
    task = make_task(info)
    seen = []

    def update(meter, outputs, target, loss=None):
        seen.append(torch.is_autocast_enabled("cpu"))
        return type(task).update(task, meter, outputs, target, loss)

    task.update = update
    frames = torch.rand(4, 10, 1, 16, 16)
    loader = [(frames, frames.flip(1))]
    out = evaluate(zoo.create_model("copy_last"), loader, task, torch.device("cpu"), amp="bf16")
    assert seen == [False]
    assert math.isfinite(out["ssim"])


def test_frames_task_reports_mse_and_ssim_per_frame():
    torch.manual_seed(0)
    info = type("Info", (), {"task": "frames", "name": "x", "extra": {}})()
    task = make_task(info)
    target = torch.rand(3, 4, 1, 16, 16)
    pred = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    meter = task.meter(torch.device("cpu"), detailed=True)
    task.update(meter, pred[:2], target[:2])
    task.update(meter, pred[2:], target[2:])
    out = meter.compute()
    per_frame_mse = (pred - target).pow(2).mean(dim=(2, 3, 4)).mean(0)
    per_frame_ssim = ssim(pred, target).mean(2).mean(0)
    assert out["mse"] == pytest.approx(float(per_frame_mse.mean()), rel=1e-6)
    assert out["ssim"] == pytest.approx(float(per_frame_ssim.mean()), rel=1e-6)
    assert out["mse_per_frame"] == pytest.approx(per_frame_mse.tolist(), rel=1e-6)
    assert out["ssim_per_frame"] == pytest.approx(per_frame_ssim.tolist(), rel=1e-6)
    assert "ssim" in task.scalar_metrics


# ------------------------------------------------------------------------ fixed test set
def _cfg(root, **kw) -> DataConfig:
    options = kw.pop("options", {})
    return DataConfig(name="moving_mnist", root=str(root), batch_size=kw.pop("batch_size", 4), options=options, **kw)


def _all(loader) -> list[torch.Tensor]:
    return [torch.cat([x, y], 1) for x, y in loader]


def test_moving_mnist_test_set_is_fixed_by_its_seed(tmp_path):
    make_mnist(tmp_path, n_train=30, n_test=20)
    small = {"train_size": 8, "test_size": 6}
    a = build_dataset(_cfg(tmp_path, options=small))
    again = build_dataset(_cfg(tmp_path, options=small))
    other_training_seed = build_dataset(_cfg(tmp_path, seed=5, batch_size=3, options=small))
    ta = torch.cat(_all(a.test))
    assert torch.equal(ta, torch.cat(_all(again.test)))
    assert torch.equal(ta, torch.cat(_all(other_training_seed.test)))  # batch size and training seed do not matter
    assert not torch.equal(torch.cat(_all(a.train)), torch.cat(_all(other_training_seed.train)))
    # Another seed of the set, another set; the test set never repeats the training set.
    assert not torch.equal(ta, torch.cat(_all(build_dataset(_cfg(tmp_path, options={**small, "seed": 1})).test)))
    a.train.set_epoch(0)
    assert not torch.equal(ta, torch.cat(_all(a.train))[:6])
    # The default is the usual 10,000 sequences, rendered batch by batch.
    default = build_dataset(_cfg(tmp_path, batch_size=64))
    assert default.test.num_samples == 10_000 and len(default.test) == math.ceil(10_000 / 64)


# ------------------------------------------------------------------ copy-last baseline
def test_copy_last_is_the_last_input_frame_repeated():
    model = zoo.create_model("copy_last", frames_out=3)
    frames = torch.rand(2, 5, 1, 8, 8)
    out = model(frames)
    assert out.shape == (2, 3, 1, 8, 8)
    assert all(torch.equal(out[:, t], frames[:, -1]) for t in range(3))
    assert sum(p.numel() for p in model.parameters()) == 0
    assert zoo.model_info("copy_last")["task"] == "frames"


def test_copy_last_baseline_evaluated_without_training(tmp_path):
    """train.epochs=0: no optimizer step, the summary's test metrics are the untrained
    model's; for copy-last they are the MSE/SSIM of the last input frame by hand."""
    make_mnist(tmp_path, n_train=30, n_test=20)
    data = {"name": "moving_mnist", "root": str(tmp_path), "batch_size": 4, "train_size": 8, "test_size": 6,
            "image_size": 32, "frames_in": 3, "frames_out": 2}
    summary = train({"model": {"name": "copy_last"}, "data": data, "train": {"epochs": 0, "device": "cpu"},
                     "log": {"progress": "off"}, "run": {"dir": str(tmp_path / "runs"), "name": "copy_last"}})
    assert summary["epochs"] == 0 and summary["steps"] == 0 and summary["params"] == 0
    assert summary["tested"] == "untrained"
    bundle = build_dataset(_cfg(tmp_path, options={k: v for k, v in data.items() if k not in ("name", "root", "batch_size")}))
    x = torch.cat([b[0] for b in bundle.test])
    y = torch.cat([b[1] for b in bundle.test])
    guess = x[:, -1:].expand_as(y)
    assert summary["test"]["mse"] == pytest.approx(float((guess - y).pow(2).mean()), rel=1e-6)
    assert summary["test"]["ssim"] == pytest.approx(float(ssim(guess, y).mean()), rel=1e-6)
    assert len(summary["test"]["mse_per_frame"]) == 2
    written = json.loads((tmp_path / "runs" / "copy_last").glob("*/summary.json").__next__().read_text())
    assert written["test"]["mse"] == summary["test"]["mse"]


# ------------------------------------------------------------------- patch ConvLSTM
def test_convlstm_patches_round_trip_and_layout():
    torch.manual_seed(0)
    model = zoo.create_model("convlstm", hidden_channels=(4,), kernel_size=3, patch_size=4, frames_out=2)
    frames = torch.rand(2, 3, 1, 64, 64)
    patches = model.to_patches(frames)
    assert patches.shape == (2, 3, 16, 16, 16)  # 64x64x1 -> 16x16x16
    assert torch.equal(model.from_patches(patches), frames)
    # Channel i * 4 + j of patch (y, x) is pixel (4 y + i, 4 x + j).
    for i, j, y, x in [(0, 0, 0, 0), (1, 2, 3, 5), (3, 3, 15, 15), (2, 0, 7, 9)]:
        assert torch.equal(patches[:, :, i * 4 + j, y, x], frames[:, :, 0, 4 * y + i, 4 * x + j])
    two = zoo.create_model("convlstm", in_chans=2, hidden_channels=(4,), kernel_size=3, patch_size=2)
    rgbish = torch.rand(1, 2, 2, 8, 6)
    assert two.to_patches(rgbish).shape == (1, 2, 8, 4, 3)
    assert torch.equal(two.from_patches(two.to_patches(rgbish)), rgbish)


def test_patch_convlstm_output_shape():
    torch.manual_seed(0)
    model = zoo.create_model("convlstm", hidden_channels=(8, 8), kernel_size=3, patch_size=4)
    with torch.no_grad():
        out = model(torch.rand(1, 10, 1, 32, 32))
    assert out.shape == (1, 10, 1, 32, 32) and 0 <= out.min() and out.max() <= 1
    assert model.encoder.in_channels == model.head.out_channels == 16  # one channel per pixel of a 4x4 patch
    with pytest.raises(ValueError, match="patch_size"):
        model(torch.rand(1, 10, 1, 30, 30))


@pytest.mark.slow
def test_convlstm_flops_in_the_docstring():
    cpu = zoo.create_model("convlstm", hidden_channels=(64, 64), kernel_size=3)
    assert round(zoo.summary(cpu, (10, 1, 64, 64)).flops / 1e9, 2) == 4.73
    assert round(zoo.summary(zoo.create_model("convlstm"), (10, 1, 64, 64)).flops / 1e9, 1) == 38.8
