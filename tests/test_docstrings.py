"""Every example in a docstring of the package runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest
import torch


def modules():
    import perspicio.core as core

    names = ["perspicio.core"]
    names += [m.name for m in pkgutil.walk_packages(core.__path__, "perspicio.core.")]
    return sorted(names)


@pytest.mark.parametrize("name", modules())
def test_docstring_examples(name):
    torch.manual_seed(0)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
