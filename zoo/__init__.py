"""zoo: a PyTorch reference model zoo.

Classic CNNs and RNNs written from their papers, built by name through one
registry, trained by one YAML-driven engine.

    >>> import zoo
    >>> zoo.list_models("resnet*")[:3]
    ['resnet101', 'resnet110', 'resnet152']
    >>> model = zoo.create_model("lenet5", num_classes=10)
    >>> zoo.data_config("lenet5.mnist")["mean"]
    (0.1307,)
"""

from __future__ import annotations

from .checkpoint import load_checkpoint, save_checkpoint
from .errors import ZooError
from .factory import create_model
from .preprocess import data_config
from .registry import list_models, model_info, register_model
from .version import __version__

__all__ = [
    "__version__",
    "ZooError",
    "create_model",
    "data_config",
    "list_models",
    "model_info",
    "register_model",
    "load_checkpoint",
    "save_checkpoint",
    "summary",
]



def __getattr__(name: str):
    # Lazy so that `import zoo` stays light: zoo.summary imports torch's FLOP counter,
    # about a tenth of the whole import of zoo, for one function. (The module is
    # callable too, so zoo.summary(...) works whichever of the two it is bound to.)
    if name == "summary":
        from .summary import summary

        globals()["summary"] = summary
        return summary
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
