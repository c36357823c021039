"""perspicio: model interpretability for PyTorch.

The subpackages are ``perspicio.core`` (attribution algorithms with the same API as
``captum.attr``), and the front ends ``perspicio.vision``, ``perspicio.text`` and
``perspicio.tabular``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("perspicio")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

__all__ = ["__version__"]
