"""Errors a user can cause.

Anything raised as :class:`ZooError` is the user's to fix (a bad config value,
an unknown name, missing data).  The CLI prints its message as one line on
stderr and exits with ``exit_code``; it never shows a traceback for these.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooError(Exception):
    """A problem in the user's input, reported as one line."""

    exit_code = 2


class ConfigError(ZooError, ValueError):
    """A config file or override that cannot be used."""


class UnknownNameError(ZooError, KeyError):
    """A model, dataset or option name that is not registered.

    Subclasses ``KeyError`` so ``except KeyError`` works as it would for a dict
    lookup, but prints as a plain sentence (``KeyError`` would quote it).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DataError(ZooError):
    """Dataset files missing, corrupt or in the wrong form."""


class CheckpointError(ZooError):
    """A checkpoint that is missing, corrupt, foreign or unsafe."""


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)


def did_you_mean(name: str, choices: Iterable[str], otherwise: str = "", *, n: int = 3, prefix: str = "",
                 quote: bool = False) -> str:
    """``did you mean a, b?`` naming the close matches of ``name`` among ``choices``
    (each written ``prefix + match``, or its repr with ``quote``), else ``otherwise``."""
    matches = close_matches(name, choices, n=n)
    if not matches:
        return otherwise
    return "did you mean " + ", ".join(prefix + (repr(m) if quote else m) for m in matches) + "?"


def first_line(exc: object, limit: int | None = None) -> str:
    """The first line of an exception's message (cut to ``limit`` characters), or
    its type's name when the message is empty: what a one-line error quotes."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def error_line(exc: BaseException) -> str:
    """A failure in one line: a user's error (:class:`ZooError`) as it reads, anything
    else prefixed with its type, which says what broke."""
    if isinstance(exc, ZooError) or not str(exc).strip():
        return first_line(exc)
    return f"{type(exc).__name__}: {first_line(exc)}"
