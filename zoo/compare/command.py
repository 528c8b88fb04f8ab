"""``zoo compare`` on the command line: its arguments, handed to :func:`zoo.compare.compare`.
:mod:`zoo.cli` picks the command up through :func:`add_cli`."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from .runner import compare

__all__ = ["add_cli"]


def _cmd_compare(args: argparse.Namespace) -> int:
    positional = list(args.args)
    models = list(args.models or [])
    # `--models a b key=value` swallows the overrides that follow; hand them back.
    overrides = [m for m in models if "=" in m]
    models = [m for m in models if "=" not in m]
    config = None
    if positional and "=" not in positional[0]:
        config = positional.pop(0)
    bad = [p for p in positional if "=" not in p]
    if bad:
        raise ConfigError(f"zoo compare: unexpected argument {bad[0]!r} (one CONFIG.yaml, then key=value overrides)")
    overrides = positional + overrides
    if args.models is not None and not models:
        raise ConfigError("--models needs at least one model name")
    result = compare(config, data=args.data, models=models or None, epochs=args.epochs, seconds=args.seconds,
                     out=args.out, overrides=overrides, isolate=False if args.in_process else None)
    return 0 if result.ok else 1


def add_cli(subparsers: Any) -> None:
    """Register ``zoo compare`` (picked up by :mod:`zoo.cli`)."""
    p = subparsers.add_parser(
        "compare", help="train several models on one dataset with one budget; table and plots",
        description="Train several models on one dataset with the same split, seed and budget, one after "
                    "another; write results.csv, results.md and PNG plots. Either a compare config "
                    "(configs/compare/*.yaml) or --data NAME --models M1 M2 ...",
    )
    p.add_argument("args", nargs="*", metavar="CONFIG.yaml | key=value",
                   help="a compare config, then dotted overrides applied to every model (data.root=..., train.device=cpu)")
    p.add_argument("--data", help="dataset name (short form)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="models to compare (short form); with a config: the entries to run")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="epochs per model")
    budget.add_argument("--seconds", type=float, help="wall-clock training budget per model (train.max_seconds)")
    p.add_argument("--out", help="output folder (default: runs/compare/<name>)")
    p.add_argument("--in-process", action="store_true",
                   help="train every model in this process instead of one fresh process each "
                        "(faster start; no CPU peak-memory figure)")
    p.set_defaults(func=_cmd_compare)
    intermixed(p)


def intermixed(parser: argparse.ArgumentParser) -> None:
    """Let ``key=value`` overrides follow options (``--out DIR data.root=...``): argparse
    only fills a positional once, so parse this subcommand with parse_known_intermixed_args."""
    base = type(parser)

    class _Intermixed(base):  # type: ignore[misc, valid-type]
        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            if getattr(self, "_zoo_inside", False):
                return base.parse_known_args(self, args, namespace)
            self._zoo_inside = True
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._zoo_inside = False

    _Intermixed.__name__ = base.__name__
    parser.__class__ = _Intermixed
