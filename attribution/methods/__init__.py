"""Attribution methods, registered by name (``@attribution_method``): gradient, trackstar,
ekfac, saliency, embedding, lexical, and the random baseline. See :mod:`attribution.methods.registry`."""

from attribution.methods.registry import (
    DenseMethod,
    Method,
    attribution_method,
    default_methods,
    get_method,
    make_method,
    method_names,
    top_k,
)

# isort: off
# Importing the modules registers the methods; their order is the order methods run in.
from attribution.methods import gradient  # noqa: F401
from attribution.methods import trackstar  # noqa: F401
from attribution.methods import ekfac  # noqa: F401
from attribution.methods import saliency  # noqa: F401
from attribution.methods import embedding  # noqa: F401
from attribution.methods import lexical  # noqa: F401
from attribution.methods import random_baseline  # noqa: F401
# isort: on

__all__ = [
    "DenseMethod",
    "Method",
    "attribution_method",
    "default_methods",
    "get_method",
    "make_method",
    "method_names",
    "top_k",
]
