"""``python -m zoo.compare.worker JOB.json``: one contestant of ``zoo compare``,
trained in a process of its own (see :func:`zoo.compare.runner.worker_main`)."""

from __future__ import annotations

import sys

from .runner import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
