"""Atomic file writes: a crash at any instant leaves the old file or the new one.

:func:`atomic_write` writes to a temporary file beside the target, named
``.<target name>.<random>.tmp``, fsyncs it and renames it over the target. A
process killed mid-write leaves that temporary file behind (the target is
intact); :func:`leftover_temps` finds such files so that their owner (the run
directory, :mod:`zoo.rundir`) can remove them.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_csv", "leftover_temps"]

_SUFFIX = ".tmp"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then fsync and rename ``tmp_path`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_SUFFIX, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_csv(path: str | Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as CSV under the header ``columns`` (other keys ignored, ``None`` an empty cell)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    atomic_write_text(path, buf.getvalue())


def leftover_temps(folder: str | Path, names: Iterable[str]) -> list[Path]:
    """The temporary files :func:`atomic_write` left in ``folder`` for targets named
    ``names`` (fnmatch patterns allowed), sorted. Nothing else matches: the name of
    each has the target's name between a leading dot and a random part."""
    folder = Path(folder)
    found: set[Path] = set()
    for name in names:
        # mkstemp's random part is 8 characters of [a-z0-9_].
        found.update(p for p in folder.glob(f".{name}.????????{_SUFFIX}") if p.is_file())
    return sorted(found)
