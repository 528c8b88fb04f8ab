"""Model families, one module each. Each registers its builders with
``zoo.register_model`` when imported; importing this package imports every
module in it, so a new family is a new file."""

from __future__ import annotations

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
del _info
