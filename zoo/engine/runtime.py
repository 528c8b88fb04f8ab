"""Process-level setup: device, seeds, determinism, DDP, RNG state, versions."""

from __future__ import annotations

import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..version import __version__

__all__ = [
    "Dist",
    "init_distributed",
    "resolve_device",
    "free_cores",
    "choose_threads",
    "seed_everything",
    "set_deterministic",
    "rng_state",
    "set_rng_state",
    "versions",
    "machine",
    "git_commit",
    "peak_memory_mb",
]


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_pref: str) -> Dist:
    """Join the process group torchrun describes in the environment, if any.

    nccl for CUDA, gloo for CPU. Multi-node runs need nothing more here:
    torchrun's rendezvous flags fill the same variables.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        use_cuda = device_pref != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank=rank, world=world, local_rank=local_rank)


def resolve_device(pref: str, dist: Dist = Dist()) -> torch.device:
    if pref == "auto":
        return torch.device(f"cuda:{dist.local_rank}" if torch.cuda.is_available() else "cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device={pref} but no CUDA device is available here; use train.device=cpu or auto")
        if pref == "cuda":
            return torch.device(f"cuda:{dist.local_rank}")
        try:
            device = torch.device(pref)
        except RuntimeError:
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {pref!r}") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"train.device={pref} but only {torch.cuda.device_count()} CUDA device(s) exist")
        return device
    if pref == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {pref!r}")


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(busy, total) jiffies summed over ``cpus`` from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    busy = total = 0.0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        values = [float(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        total += sum(values)
        busy += sum(values) - values[3] - values[4]
    return busy, total


def free_cores(window: float = 0.25) -> int:
    """Cores this process may run on that no other work kept busy during ``window`` seconds.

    Sampled from /proc/stat while this process sleeps, so what is measured is
    everyone else. Where /proc/stat is missing every allowed core counts as free.
    """
    try:
        cpus = set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    before = _cpu_times(cpus)
    if before is None:
        return len(cpus)
    time.sleep(window)
    after = _cpu_times(cpus)
    if after is None or after[1] <= before[1]:
        return len(cpus)
    busy = len(cpus) * (after[0] - before[0]) / (after[1] - before[1])
    # A core counts as taken from 60% busy: a thread that gets half a core holds
    # back every parallel region, since each waits for its slowest thread.
    return max(1, len(cpus) - int(busy + 0.4))


def choose_threads(setting: int | str | None, dist: Dist = Dist()) -> int:
    """Set torch's intra-op threads for ``train.threads`` and return the count in use.

    ``"auto"`` takes the cores that are free now, shared among the ranks of this
    machine. On a busy machine torch's default (one thread per core) makes every
    parallel region wait for the thread the OS has put aside; see the busy-machine
    figures in benchmarks/README.md. An explicit OMP_NUM_THREADS is the user's
    choice and is kept. An int is taken as given; None leaves torch's setting.
    """
    if setting == "auto":
        if "OMP_NUM_THREADS" in os.environ:
            return torch.get_num_threads()
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world))
        setting = max(1, free_cores() // max(1, local_world))
    if setting is not None:
        torch.set_num_threads(int(setting))
    return torch.get_num_threads()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_deterministic(on: bool, device: torch.device) -> None:
    if on:
        # cuBLAS needs a fixed workspace to be reproducible (CUDA docs, "Reproducibility").
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        # Only when it was on: the call imports torch._inductor, seconds of a short run's start.
        if torch.are_deterministic_algorithms_enabled():
            torch.use_deterministic_algorithms(False)
        # Autotuned convolutions pay off after the first few steps of fixed shapes.
        torch.backends.cudnn.benchmark = device.type == "cuda"


def rng_state() -> dict[str, Any]:
    """Every RNG a run draws from, as tensors and plain values (weights_only-safe)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np_state[1].numpy().astype(np.uint32), np_state[2], np_state[3], np_state[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def versions() -> dict[str, str]:
    import torchvision

    return {
        "zoo": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
    }


def machine() -> str:
    """This machine in words, for a run's summary: the CPU model and its cores."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True,
            cwd=os.getcwd(),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        # ru_maxrss is KiB on Linux: the resident peak of the whole process.
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return float("nan")
