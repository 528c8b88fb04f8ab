"""Pretrained weights: the zoo's published checkpoints, torchvision's ImageNet
weights, local files and URLs, adapted to the head and input channels asked for.

``create_model(name, pretrained=SOURCE, num_classes=..., in_chans=..., **kwargs)``
hands ``SOURCE`` to :func:`load_pretrained`. A source is one of:

``"<tag>"`` or ``True``
    Weights the zoo publishes (``zoo list --pretrained``), shipped in
    ``zoo/weights/`` and listed in ``zoo/weights/manifest.json`` with their
    sha256. ``create_model("lenet5.mnist", pretrained=True)`` names the tag in
    the model name, timm-style. ``True`` alone picks the model's first published
    tag, else torchvision's weights for the CNNs named like torchvision's.

``"torchvision"``
    The official ImageNet weights of the torchvision model of the same name
    (``alexnet``, ``vgg16_bn``, ``resnet50``, ``googlenet`` ...), through
    torchvision's Weights API: ``get_model_weights(name).DEFAULT``. The file is
    downloaded once, hash-checked, into the torch hub cache (``$TORCH_HOME``,
    default ``~/.cache/torch/hub/checkpoints``) and read from there offline.

a local path
    A zoo checkpoint (``.safetensors`` with zoo metadata, or a training state
    ``.ckpt``), a plain ``.safetensors`` state dict, or a torchvision-style
    state dict ``.pth``/``.pt``/``.bin``. Pickle files are read with
    ``torch.load(weights_only=True)`` only: anything but tensors and plain
    containers is refused, and nothing in the file runs.

``"https://host/path/name.safetensors#sha256=<64 hex digits>"``
    A URL (``http``, ``https`` or ``file``) with the sha256 of the file it
    serves, in the URL fragment. The file is cached under ``$ZOO_HOME/weights``
    (default ``~/.cache/zoo/weights``) and checked on every use; a download or a
    cached file whose sha256 differs is deleted and the load fails.

Adaptation, each reported in one line on the ``zoo.pretrained`` logger (stderr
by default):

* the model's keyword arguments start from those the checkpoint records (zoo
  checkpoints), or, for a bare state dict, ``num_classes`` and ``in_chans`` read
  off the classifier and first convolution the model entry declares
  (``register_model(classifier=..., first_conv=...)``); the caller's keyword
  arguments override them;
* ``num_classes`` differing from the checkpoint's: the declared classifier
  layer(s) are newly initialized (removed for ``num_classes=0``), every other
  weight is kept;
* ``in_chans`` differing: the declared first convolution is adapted, as timm does. To one
  channel its filters are summed over the input channels (a grey image seen as
  R = G = B gives the same response); to ``k`` channels they are repeated
  cyclically and scaled by ``c/k`` (``c`` the checkpoint's channels), which keeps
  the activation scale;
* any other difference fails, naming the missing and unexpected keys (the first
  10 and their count) or the tensors whose shapes differ.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import is_refusal, is_tied, read_metadata, tensors_sha256
from .constants import IMAGENET_STATS
from .errors import CheckpointError, ConfigError, did_you_mean, first_line
from .manifest import MANIFEST, WEIGHTS_DIR, file_sha256, published, published_file, published_names, published_tags
from .registry import ModelEntry, list_models

__all__ = [
    # The manifest's names, re-exported: zoo.pretrained is where users look for published weights.
    "MANIFEST",
    "WEIGHTS_DIR",
    "published",
    "published_names",
    "published_file",
    "load_pretrained",
    "load_state_source",
    "adapt_first_conv",
    "zoo_home",
    "file_sha256",
]

log = logging.getLogger("zoo.pretrained")

_SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".pkl", ".ckpt")

# torchvision builds these with other defaults when it loads its weights.
_TORCHVISION_KWARGS: dict[str, dict[str, Any]] = {"googlenet": {"transform_input": True}}


# ---------------------------------------------------------------------------------
# Sources -> (state dict, metadata)
# ---------------------------------------------------------------------------------
@dataclass
class Source:
    """Tensors of a checkpoint and what is known of the model that made them."""

    state: dict[str, torch.Tensor]
    description: str
    meta: dict[str, Any] = field(default_factory=dict)  # zoo metadata (model, model_kwargs, classes, ...)
    base_kwargs: dict[str, Any] = field(default_factory=dict)


def zoo_home() -> Path:
    """``$ZOO_HOME`` or ``~/.cache/zoo``: where URL weights are cached (``weights/``)."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with every failure as one CheckpointError line."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = first_line(exc, 200)
        if is_refusal(exc):
            raise CheckpointError(f"{path} refused: it carries a pickle payload beyond tensors and plain "
                                  "containers; nothing in it was run") from None
        raise CheckpointError(f"{path} is not a readable weights file (corrupt or truncated: {reason})") from None
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable weights file (corrupt or truncated: {first_line(exc, 200)})") from None


def _as_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a loaded pickle: a bare state dict or one under a usual key."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "module"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path} holds no state dict (a mapping of parameter names to tensors)")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state or not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{path} holds no state dict (a mapping of parameter names to tensors)")
    # Saved from a DistributedDataParallel or torch.compile wrapper.
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as fh:
            has_meta = "zoo" in (fh.metadata() or {})
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({first_line(exc, 200)})") from None
    meta = read_metadata(path) if has_meta else {}
    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(f"cannot read tensors of {path} ({first_line(exc, 200)})") from None
    return state, meta


def _from_file(path: Path, description: str | None = None) -> Source:
    if not path.is_file():
        raise CheckpointError(f"pretrained weights not found: {path}")
    description = description or str(path)
    if path.suffix == ".safetensors":
        state, meta = _read_safetensors(path)
        if meta:
            if meta.get("sha256") and tensors_sha256(state) != meta["sha256"]:
                raise CheckpointError(f"{path}: tensors do not match the sha256 in its metadata (corrupt or edited file)")
            return Source(state, description, meta, dict(meta.get("model_kwargs") or {}))
        return Source(state, description)
    obj = _torch_load(path)
    if isinstance(obj, dict) and obj.get("format") == "zoo.train.v1" and isinstance(obj.get("model"), dict):
        meta = dict(obj.get("meta") or {})  # a zoo training state
        return Source(_as_state_dict(obj["model"], path), description, meta, dict(meta.get("model_kwargs") or {}))
    return Source(_as_state_dict(obj, path), description)


def _from_torchvision(name: str, *, progress: bool = True) -> Source:
    import torchvision.models as tvm

    try:
        weights = tvm.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        tv = sorted(n for n in tvm.list_models(module=tvm) if n in set(list_models()))
        raise ConfigError(f"pretrained='torchvision': torchvision has no weights for {name!r} "
                          f"(models named like torchvision's: {', '.join(tv)})") from None
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(weights.url).path)
    try:
        state = weights.get_state_dict(progress=progress, check_hash=True, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"torchvision weights {cached} refused or corrupt ({first_line(exc, 200)}); delete the file") from None
    except RuntimeError as exc:
        if "hash" in str(exc).lower():  # torch.hub already deleted the bad download
            raise CheckpointError(f"torchvision weights for {name}: download failed its hash check ({first_line(exc, 200)})") from None
        raise CheckpointError(f"torchvision weights {cached} are unreadable ({first_line(exc, 200)}); delete the file") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CheckpointError(
            f"torchvision weights for {name} ({weights}) are not in the torch hub cache and cannot be downloaded "
            f"({first_line(getattr(exc, 'reason', None) or exc, 200)}); put {os.path.basename(str(cached))} from {weights.url} into {cached.parent}"
        ) from None
    meta = {
        "dataset": "imagenet-1k",
        "classes": list(weights.meta.get("categories") or []) or None,
        "mean": list(IMAGENET_STATS[0]),
        "std": list(IMAGENET_STATS[1]),
        "source": str(weights),
    }
    return Source(_as_state_dict(state, cached), f"torchvision {weights}", meta, dict(_TORCHVISION_KWARGS.get(name, {})))


def parse_url(url: str) -> tuple[str, str]:
    """``(url without fragment, sha256)`` of ``URL#sha256=<hex>``."""
    base, _, fragment = url.partition("#")
    params = urllib.parse.parse_qs(fragment)
    sha = (params.get("sha256") or [""])[0]
    if not _SHA_RE.match(sha):
        raise ConfigError(f"pretrained URL needs the file's sha256 in its fragment: {base}#sha256=<64 hex digits>")
    return base, sha.lower()


def fetch_url(url: str, *, progress: bool = False) -> Path:
    """Download ``URL#sha256=<hex>`` into ``$ZOO_HOME/weights`` once; return the checked file.

    A cached file or a download whose sha256 differs is deleted and the call fails.
    """
    base, sha = parse_url(url)
    name = os.path.basename(urllib.parse.urlparse(base).path) or "weights"
    folder = zoo_home() / "weights"
    path = folder / f"{sha[:12]}-{name}"
    if path.is_file():
        digest = file_sha256(path)
        if digest == sha:
            return path
        path.unlink()
        raise CheckpointError(f"cached {path} has sha256 {digest[:16]}..., expected {sha[:16]}...: deleted it; "
                              "try again to download it afresh")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(base, timeout=60) as resp:  # noqa: S310 - the sha256 guards the content
                    for chunk in iter(lambda: resp.read(1 << 20), b""):
                        h.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise CheckpointError(f"cannot download {base} ({first_line(getattr(exc, 'reason', exc), 200)})") from None
        digest = h.hexdigest()
        if digest != sha:
            raise CheckpointError(f"{base}: sha256 of the download is {digest[:16]}..., expected {sha[:16]}...; "
                                  "the file was deleted")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    if progress:
        log.info("downloaded %s to %s", base, path)
    return path


def load_state_source(entry: ModelEntry, pretrained: Any, *, progress: bool = True) -> Source:
    """Resolve ``pretrained`` for the model ``entry`` to its tensors and metadata."""
    name = entry.name
    tags = published_tags(name)
    if pretrained is True:
        if tags:
            pretrained = tags[0]
        elif _has_torchvision_weights(name):
            pretrained = "torchvision"
        else:
            raise ConfigError(f"pretrained=True: no weights are published for {name!r} "
                              "(see `zoo list --pretrained`; or pass a file or URL#sha256=...)")
    if isinstance(pretrained, os.PathLike):
        return _from_file(Path(pretrained))
    if not isinstance(pretrained, str):
        raise ConfigError(f"pretrained must be True, a tag, 'torchvision', a file or a URL, got {pretrained!r}")
    if pretrained in tags:
        return _from_file(published_file(f"{name}.{pretrained}"), f"published {name}.{pretrained}")
    if pretrained == "torchvision":
        return _from_torchvision(name, progress=progress)
    scheme = urllib.parse.urlparse(pretrained).scheme
    if scheme in ("http", "https", "file", "ftp"):
        return _from_file(fetch_url(pretrained, progress=progress), pretrained.partition("#")[0])
    path = Path(pretrained).expanduser()
    if path.exists() or path.suffix in (".safetensors", *_PICKLE_SUFFIXES) or os.sep in pretrained:
        return _from_file(path)
    forms = [*(repr(t) for t in tags), *(["'torchvision'"] if _has_torchvision_weights(name) else [])]
    hint = did_you_mean(pretrained, tags)
    hint = f"{hint} " if hint else ""
    raise ConfigError(f"pretrained={pretrained!r} for {name}: {hint}not a published tag, file or URL "
                      f"(available: {', '.join(forms) or 'none published'}; a file; or URL#sha256=<hex>)")


def _has_torchvision_weights(name: str) -> bool:
    try:
        import torchvision.models as tvm

        tvm.get_model_weights(name)
        return True
    except Exception:
        return False


# ---------------------------------------------------------------------------------
# Adaptation
# ---------------------------------------------------------------------------------
def adapt_first_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A first-layer filter bank ``(out, c, ...)`` made to take ``in_chans`` channels.

    One channel: the sum over the ``c`` input channels. ``k`` channels: the
    ``c`` filters repeated cyclically to ``k`` and scaled by ``c/k``.
    """
    c = weight.shape[1]
    if in_chans == c:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = math.ceil(in_chans / c)
    out = weight.repeat(1, reps, *([1] * (weight.dim() - 2)))[:, :in_chans]
    return out * (c / in_chans)


def _head_keys(entry: ModelEntry, keys: Any) -> list[str]:
    """The keys of the classifier layer(s) ``entry`` declares (``register_model(classifier=...)``)."""
    prefixes = tuple(f"{c}." for c in entry.classifier)
    return [k for k in keys if prefixes and k.startswith(prefixes)]


def _names(keys: list[str]) -> str:
    more = f" (+{len(keys) - 10} more)" if len(keys) > 10 else ""
    return ", ".join(keys[:10]) + more


def load_pretrained(
    entry: ModelEntry,
    pretrained: Any,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> nn.Module:
    """Build ``entry``'s model with pretrained weights (see the module docstring)."""
    source = load_state_source(entry, pretrained, progress=progress)
    label = f"{entry.name} ({source.description})"
    if source.meta.get("model") and source.meta["model"] != entry.name:
        raise CheckpointError(f"{source.description} holds {source.meta['model']} weights, not {entry.name}'s "
                              f"(use create_model({source.meta['model']!r}, ...) or zoo.load_checkpoint)")
    defaults = entry.defaults()
    # The checkpoint's architecture first, then what the caller asks for.
    base = {k: v for k, v in source.base_kwargs.items() if entry.accepts(k)}
    arch = {**base, **kwargs}
    conv_key = f"{entry.first_conv}.weight" if entry.first_conv else None
    if not source.meta.get("model"):
        # A bare state dict records no arguments: its declared classifier says num_classes,
        # its first convolution in_chans.
        head = next((source.state[k] for k in _head_keys(entry, source.state) if k.endswith(".weight")), None)
        if head is not None and "num_classes" in defaults and "num_classes" not in kwargs:
            if head.shape[0] != defaults["num_classes"]:
                arch["num_classes"] = head.shape[0]
        conv = source.state.get(conv_key) if conv_key else None
        if conv is not None and conv.dim() >= 3 and "in_chans" in defaults and "in_chans" not in kwargs:
            if conv.shape[1] != defaults["in_chans"]:
                arch["in_chans"] = conv.shape[1]
    src_classes = arch.get("num_classes", defaults.get("num_classes"))
    src_chans = arch.get("in_chans", defaults.get("in_chans"))
    target = dict(arch)
    if num_classes is not None:
        target["num_classes"] = num_classes
    if in_chans is not None:
        target["in_chans"] = in_chans
    model = entry.build(**target)
    want_classes = target.get("num_classes", defaults.get("num_classes"))
    want_chans = target.get("in_chans", defaults.get("in_chans"))

    state = dict(source.state)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    # Another num_classes: every tensor of the declared classifier(s) goes, the rest stays.
    heads = _head_keys(entry, state) if want_classes != src_classes else []
    for key in heads:
        del state[key]
    # Another in_chans: the declared first convolution is adapted.
    conv: tuple[str, int, int] | None = None
    if conv_key and want_chans != src_chans and conv_key in state and conv_key in shapes:
        have, want = tuple(state[conv_key].shape), shapes[conv_key]
        if len(have) == len(want) >= 3 and have[0] == want[0] and have[2:] == want[2:] and have[1] != want[1]:
            conv = (conv_key, have[1], want[1])
    other = [f"{k} {list(state[k].shape)} vs {list(want)}" for k, want in shapes.items()
             if k in state and tuple(state[k].shape) != want and (conv is None or k != conv[0])]
    if other:
        hint = ""
        if want_classes != src_classes and not entry.classifier:
            hint = f" ({entry.name} declares no classifier to replace for num_classes)"
        elif want_chans != src_chans and not entry.first_conv:
            hint = f" ({entry.name} declares no first_conv to adapt to in_chans)"
        raise CheckpointError(f"{label}: tensor shapes differ from {entry.name}({_kwargs_text(target)}): "
                              f"{len(other)}: {_names(other)}{hint}")
    notes: list[str] = []
    if conv:
        key, have, want = conv
        state[key] = adapt_first_conv(state[key], want)
        how = "sum of the input-channel filters" if want == 1 else f"filters repeated and scaled by {have}/{want}"
        notes.append(f"first conv {key} adapted from {have} to {want} input channels ({how})")
    if heads:
        done = "removed (num_classes=0)" if want_classes == 0 else "newly initialized"
        notes.append(f"new {want_classes}-class head (checkpoint has {src_classes}): "
                     f"{_names(sorted(heads))} {done}, backbone kept")
    # Submodules the architecture switched off (GoogLeNet's aux_logits=False) drop their weights.
    absent = sorted({k.split(".", 1)[0] for k in state if k not in shapes
                     and "." in k and getattr(model, k.split(".", 1)[0], "x") is None})
    if absent:
        state = {k: v for k, v in state.items() if k.split(".", 1)[0] not in absent}
        notes.append(f"weights of {', '.join(absent)} dropped (not in this configuration)")

    result = model.load_state_dict(state, strict=False)
    new_head = set(_head_keys(entry, result.missing_keys)) if heads else set()
    missing = [k for k in result.missing_keys if k not in new_head and not is_tied(model, k, state)]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {_names(unexpected)}")
        raise CheckpointError(f"{label}: weights do not fit {entry.name}({_kwargs_text(target)}) ({'; '.join(parts)})")
    for note in notes:
        log.warning("%s: %s", label, note)

    meta = {k: v for k, v in source.meta.items() if k not in ("format", "sha256")}
    meta.update(model=entry.name, model_kwargs=dict(model.zoo_config["kwargs"]), pretrained=source.description)
    if heads:
        meta.pop("classes", None)
        meta.pop("metrics", None)
    if conv:
        meta.pop("mean", None)
        meta.pop("std", None)
        meta.pop("metrics", None)
    model.zoo_meta = meta
    return model


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
