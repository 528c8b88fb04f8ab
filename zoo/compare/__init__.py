"""``zoo compare``: several architectures, one dataset, one budget -> a table and plots.

Two ways to ask::

    zoo compare configs/compare/rnn_seq_mnist.yaml [key=value ...] [--models A B] [--epochs N | --seconds S] [--out DIR]
    zoo compare --data digits --models lenet5 resnet20 vgg11 [--epochs N | --seconds S] [--out DIR] [key=value ...]

The short form trains with Adam at lr 0.001 (:data:`SHORT_FORM_DEFAULTS`) and the
engine's other defaults (batch 128, no schedule, 10 epochs); change any of it with
overrides (``optim.lr=0.003 data.batch_size=32 sched.name=onecycle``). From Python::

    from zoo.compare import compare
    result = compare(data="digits", models=["lenet5", "resnet20"], epochs=1, out="runs/cmp")
    result = compare("configs/compare/cnn_mnist.yaml", overrides=["data.root=../shared/data"])
    print(result.table)            # the markdown table; result.rows are dicts, result.files the outputs

Every model goes through :class:`zoo.engine.trainer.Trainer`, so it adapts to the
dataset (channels, classes, small-image stem, vocabulary, ...) exactly as ``zoo
train`` adapts it. All models share the data section (same split, same seed, same
augmentation) and the same budget: ``epochs``, or wall-clock ``seconds`` per model
(``train.max_seconds``), or both (whichever ends first). They train one after
another, each in a fresh Python process on the CPU (the same starting point for
every model, a clean peak-memory figure, and a crash or an out-of-memory kill
takes down only that model), in this process on CUDA (``--in-process`` forces it).

The compare config
------------------
A YAML mapping; every key is optional except ``data`` and ``models``::

    name: rnn_seq_mnist           # default: the file's stem (short form: the dataset's name)
    out: runs/compare/rnn_seq_mnist   # default: runs/compare/<name>; relative to the working directory
    _base_: other.yaml            # inheritance, as in training configs
    data: {name: seq_mnist, batch_size: 128}   # the training config's data section, shared
    budget: {epochs: 5}           # and/or seconds: 300 (per model; sets train.epochs / train.max_seconds)
    seed: 0                       # train.seed; data order and augmentation follow it
    model: {hidden_size: 128}     # model kwargs given to every model
    optim: {name: adam, lr: 0.001}    # shared optim / sched / train / log sections,
    sched: {name: cosine}             # exactly as in a training config
    train: {grad_clip_norm: 1.0}
    log: {progress: lines}
    models:
      - rnn                       # a registered name: trained under its own name
      - gru
      - name: lstm_peep           # display name: the row, the plot label, the folder OUT/<name>
        model: lstm               # the registered architecture (default: name)
        kwargs: {peephole: true}  # this model's keyword arguments
      - name: lstm_nopeep
        model: lstm
        kwargs: {peephole: false}
        optim: {lr: 0.002}        # per-model optim / sched / train / data / log overrides

Per-model overrides may tune a model (learning rate, schedule, clipping, batch
size) but never change what makes the comparison fair: the dataset, its split,
the seeds, the augmentation, the budget, or the monitored metric (those keys are
refused with a one-line error). ``key=value`` overrides from the command line
(``data.root=../shared/data``, ``train.device=cpu``, ``model.hidden_size=64``) are
applied to every model, last.

Output directory
----------------
``OUT/<name>/`` is each model's run directory (``config.yaml``, ``metrics.csv``,
``best.safetensors``, ``last.ckpt``, ``summary.json``) plus ``result.json`` (the
row below) once the model is done. Beside them:

- ``results.csv`` and ``results.md``: one row per model: ``model`` (display name),
  ``arch``, ``status``, ``params``, ``flops`` (forward pass of one sample of this
  dataset), ``metric`` (the task's: acc1 for classification, loss for regression),
  ``best`` (best value on the per-epoch evaluation split, test unless
  ``data.val_split`` carves out validation) and ``best_epoch``, ``final`` (test
  metric of the final weights), ``epochs``, ``train_time_s`` (wall time of the run,
  per-epoch evaluation included), ``train_samples_per_s`` (training samples over
  time spent in training steps), ``latency_ms`` (eval-mode forward time of one
  sample, batch of 1, fastest of at least 3 runs), ``peak_mem_mb`` (CUDA: peak allocated tensor memory;
  CPU: peak resident memory of the model's own process, Python and torch included;
  empty with ``--in-process`` on the CPU), ``device``.
- ``curves.png`` (evaluation metric and training loss per epoch, all models),
  ``metric_vs_params.png``, ``metric_vs_flops.png``, ``train_time.png``.

The table is printed at the end.

Resuming: a model whose ``OUT/<name>/result.json`` holds the same resolved config
is skipped (its row is read back); one stopped mid-run (``last.ckpt`` without a
result) continues from its checkpoint; one whose config changed is trained again
from scratch. So re-running an interrupted compare finishes only what is missing.

Failures: a model that fails (does not fit the dataset, NaN loss, out of memory,
a bad keyword argument, a crash of its process) is reported in one line (the
traceback goes to ``OUT/<name>/error.log``), gets a ``failed`` row, and the others go on; the
command then exits 1. Config mistakes found before any training (unknown key,
unknown model, forbidden override) end with one line and exit 2, as elsewhere.

The package
-----------
:mod:`~zoo.compare.spec` reads the config into a :class:`CompareSpec`;
:mod:`~zoo.compare.runner` trains and measures each model
(:mod:`~zoo.compare.measure`) and :mod:`~zoo.compare.report` writes the table and
plots; :mod:`~zoo.compare.command` is the ``zoo compare`` command line. The run
directory of each model is :mod:`zoo.rundir`'s.
"""

from __future__ import annotations

from .command import add_cli, intermixed
from .measure import RESULT_COLUMNS, count_flops
from .report import format_table, write_results
from .runner import CompareResult, compare, run_compare
from .spec import SHORT_FORM_DEFAULTS, CompareSpec, ModelSpec, load_compare_config, make_spec

__all__ = ["compare", "run_compare", "CompareResult", "ModelSpec", "CompareSpec", "make_spec", "load_compare_config",
           "write_results", "format_table", "RESULT_COLUMNS", "SHORT_FORM_DEFAULTS", "count_flops", "add_cli", "intermixed"]
