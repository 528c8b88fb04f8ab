"""The zoo's version, in a module of its own so that checkpoints and run summaries
can record it without importing the package's public API (``zoo/__init__``)."""

__version__ = "0.1.0"
