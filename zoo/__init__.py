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

__version__ = "0.1.0"

from .errors import ZooError
from .preprocess import data_config
from .registry import create_model, list_models, model_info, register_model

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
    # Lazy so that `import zoo` stays light; these pull in the engine and safetensors.
    if name in ("load_checkpoint", "save_checkpoint"):
        from . import checkpoint

        return getattr(checkpoint, name)
    if name == "summary":
        from .summary import summary

        # Importing the submodule bound zoo.summary to the module; rebind the function.
        globals()["summary"] = summary
        return summary
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
