"""zoo: a PyTorch reference model zoo.

Classic CNNs and RNNs written from their papers, built by name through one
registry, trained by one YAML-driven engine.

    >>> import zoo
    >>> zoo.list_models("resnet*")[:3]
    ['resnet101', 'resnet110', 'resnet152']
    >>> model = zoo.create_model("lenet5", num_classes=10)
"""

from __future__ import annotations

from .checkpoint import load_checkpoint, save_checkpoint
from .errors import ZooError
from .factory import create_model
from .registry import list_models, model_info, register_model

# Not lazy: the function shadows the submodule of the same name, which holds only
# while this import is the one that loads the submodule.
from .summary import summary
from .version import __version__

__all__ = [
    "__version__",
    "ZooError",
    "create_model",
    "list_models",
    "model_info",
    "register_model",
    "load_checkpoint",
    "save_checkpoint",
    "summary",
]

