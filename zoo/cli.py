"""The ``zoo`` command line.

    zoo train CONFIG.yaml [key=value ...] [--resume RUN] [--force]
    zoo eval CHECKPOINT [--data NAME] [--split test] [--json] [--out DIR] [key=value ...]
    zoo list [PATTERN] [--pretrained]
    zoo info MODEL
    zoo summary MODEL [--input C,H,W] [key=value ...]
    zoo compare CONFIG.yaml | --data NAME --models M1 M2 ...
    zoo reproduce NAME [--models M ...] [--epochs-scale F | --seconds S] | --list
    zoo export CHECKPOINT --format torchscript|onnx [--out PATH]

Errors the user can cause end in one line on stderr and exit code 2 (see
:mod:`zoo.errors`); ``python train.py`` is ``zoo train``.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from . import compare, export, reproduce
from .engine.config import load_config, parse_overrides
from .engine.evaluate import evaluate_checkpoint
from .engine.trainer import Trainer, saved_config
from .errors import ConfigError, ZooError, first_line
from .factory import create_model
from .manifest import published
from .registry import get_model_entry, list_models, model_info
from .summary import summary
from .version import __version__

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every user error
        raise ZooError(message if self.prog == "zoo" else f"{self.prog}: {message}")


# ---------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> int:
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not Path(config).exists():
        overrides.insert(0, config)
        config = None
    if config is None and args.resume is None:
        raise ConfigError("zoo train needs a CONFIG.yaml (or --resume RUN_DIR)")
    if config is not None:
        cfg = load_config(config, overrides)
    else:  # resume with the checkpoint's own config
        cfg = saved_config(args.resume, parse_overrides(overrides))
    Trainer(cfg, resume=args.resume, force=args.force).fit()
    return 0


# ---------------------------------------------------------------------------------
# eval
# ---------------------------------------------------------------------------------
def _cmd_eval(args: argparse.Namespace) -> int:
    result = evaluate_checkpoint(
        args.checkpoint, data=args.data, split=args.split, overrides=args.overrides, out=args.out,
        device=args.device, quiet=args.json,
    )
    if args.json:
        print(json.dumps(result["metrics"]))
    return 0


# ---------------------------------------------------------------------------------
# list / info / summary
# ---------------------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    names = list_models(args.pattern, pretrained=args.pretrained)
    if args.pretrained:
        for name in names:
            entry = published()[name]
            print(f"{name:28s} {entry['dataset']:16s} {entry['metric']} {entry['value']}")
    else:
        for name in names:
            print(name)
    if not names:
        print(f"no {'published weights' if args.pretrained else 'models'} match {args.pattern!r}", file=sys.stderr)
        return 1
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    info = model_info(args.model)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for key, value in info.items():
        if key == "notes":
            if value:
                print(textwrap.fill(value, width=100, initial_indent=f"{key:12s} ", subsequent_indent=" " * 13))
            continue
        if key == "params":
            value = f"{value:,}"
        elif key == "input_size":
            value = "x".join(str(v) for v in value)
        print(f"{key:12s} {value}")
    return 0


def _parse_input(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise ConfigError(f"--input must be comma-separated integers like 3,32,32, got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise ConfigError(f"--input must be positive integers, got {text!r}")
    return dims


def _model_kwargs(items: Sequence[str]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"model argument {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        try:
            kwargs[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            kwargs[key.strip()] = raw
    return kwargs


def _cmd_summary(args: argparse.Namespace) -> int:
    entry = get_model_entry(args.model)
    kwargs = _model_kwargs(args.kwargs)
    input_size = _parse_input(args.input) if args.input else entry.input_size
    if "in_chans" not in kwargs and args.input and len(input_size) == 3 and entry.accepts("in_chans"):
        kwargs["in_chans"] = input_size[0]
    model = create_model(args.model, **kwargs)
    try:
        table = summary(model, input_size)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"{args.model} cannot take input {'x'.join(map(str, input_size))}: "
                          f"{first_line(exc)}") from None
    print(table.format())
    return 0


# ---------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zoo", description="PyTorch reference model zoo: train, evaluate and compare classic CNNs and RNNs.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config", nargs="?", help="the YAML config (optional with --resume)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.05 train.epochs=3")
    p.add_argument("--resume", metavar="RUN_DIR_OR_CKPT", help="continue a run from its last.ckpt, in the same run directory")
    p.add_argument("--force", action="store_true", help="resume even when the config differs from the checkpoint's")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint (file, run directory or published name)")
    p.add_argument("checkpoint")
    p.add_argument("overrides", nargs="*", help="data overrides, e.g. data.root=../shared/data")
    p.add_argument("--data", help="dataset name (default: the checkpoint's)")
    p.add_argument("--split", default="test", choices=["test", "val", "train"])
    p.add_argument("--json", action="store_true", help="print one JSON object of metrics on stdout")
    p.add_argument("--out", help="folder for the confusion-matrix PNG (default: next to the checkpoint; "
                   "for a published name, none unless --out is given)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("list", help="list registered models (or published weights)")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern, e.g. 'resnet*'")
    p.add_argument("--pretrained", action="store_true", help="list the published weights")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="family, paper, input size, task and parameters of a model")
    p.add_argument("model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("summary", help="layer table: output shape, activation size, parameters, FLOPs")
    p.add_argument("model")
    p.add_argument("kwargs", nargs="*", help="model keyword arguments, e.g. channels=[8,16] activation=relu")
    p.add_argument("--input", help="input size C,H,W (default: the model's)")
    p.set_defaults(func=_cmd_summary)

    for module in _COMMAND_MODULES:
        module.add_cli(sub)
    return parser


# Commands that live in their own module; each defines add_cli(subparsers).
_COMMAND_MODULES = (compare, export, reproduce)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # key=value items after an option (`zoo eval X --json data.root=...`) are
        # still overrides: argparse stops collecting positionals at the first option.
        slot = "overrides" if hasattr(args, "overrides") else "kwargs" if hasattr(args, "kwargs") else None
        unknown = [a for a in extra if slot is None or a.startswith("-") or "=" not in a]
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        if extra:
            setattr(args, slot, [*getattr(args, slot), *extra])
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
