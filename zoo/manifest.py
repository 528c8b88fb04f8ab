"""The weights the zoo publishes: ``zoo/weights/manifest.json`` and its files.

Each entry names a model and a tag (``lenet5.mnist``), the file shipped in
``zoo/weights/``, its sha256, and the figure ``zoo eval`` measured. The registry
lists these names (``zoo list --pretrained``); :mod:`zoo.pretrained` loads them;
:mod:`zoo.publish` adds them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import CheckpointError, UnknownNameError, did_you_mean

__all__ = ["WEIGHTS_DIR", "MANIFEST", "published", "published_names", "published_tags", "published_file",
           "file_sha256"]

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
_MANIFEST_KEYS = ("model", "tag", "file", "sha256", "dataset", "metric", "value")

_manifest_cache: dict[str, Any] = {"key": None, "entries": {}}


def _read_manifest() -> dict[str, dict[str, Any]]:
    try:
        stat = MANIFEST.stat()
    except FileNotFoundError:
        return {}
    key = (stat.st_mtime_ns, stat.st_size)
    if _manifest_cache["key"] == key:
        return _manifest_cache["entries"]
    try:
        records = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{MANIFEST} is not valid JSON ({exc})") from None
    if isinstance(records, dict):
        records = records.get("weights", [])
    entries: dict[str, dict[str, Any]] = {}
    for record in records:
        missing = [k for k in _MANIFEST_KEYS if k not in record]
        if missing:
            raise CheckpointError(f"{MANIFEST}: entry {record.get('model')}.{record.get('tag')} lacks {', '.join(missing)}")
        entries[f"{record['model']}.{record['tag']}"] = dict(record)
    _manifest_cache.update(key=key, entries=entries)
    return entries


def published() -> dict[str, dict[str, Any]]:
    """Published weights by ``model.tag`` name, each its manifest entry
    (model, tag, file, sha256, dataset, metric, value, config, command, epochs, notes)."""
    return {name: dict(entry) for name, entry in _read_manifest().items()}


def published_names() -> list[str]:
    """Sorted ``model.tag`` names of the published weights."""
    return sorted(_read_manifest())


def published_tags(model: str) -> list[str]:
    """The tags published for ``model``, in manifest order (``["mnist"]`` for lenet5)."""
    return [e["tag"] for e in _read_manifest().values() if e["model"] == model]


def published_file(name: str) -> Path:
    """The checked file of the published weights ``name`` (``lenet5.mnist``)."""
    entries = _read_manifest()
    if name not in entries:
        hint = did_you_mean(name, entries, "see `zoo list --pretrained`")
        raise UnknownNameError(f"no published weights named {name!r} ({hint})")
    entry = entries[name]
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise CheckpointError(f"published weights {name}: {path} is missing from the installed package")
    digest = file_sha256(path)
    if digest != entry["sha256"].lower():
        raise CheckpointError(f"published weights {name}: {path} has sha256 {digest[:16]}..., "
                              f"the manifest says {entry['sha256'][:16]}... (corrupt or edited file)")
    return path


_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]
