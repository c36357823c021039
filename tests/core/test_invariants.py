"""Invariants every algorithm in the registry must keep (scikit-learn style common tests),
run through the public :func:`perspicio.core.testing.check_attribution`."""

from __future__ import annotations

import pytest
import torch

from perspicio.core.registry import METHODS, names
from perspicio.core.testing import CHECKS, check_attribution

#: every registered method a torch model runs (the tree methods are tested in tests/tabular),
#: and two noise tunnels
NAMES = list(names(tree=False)) + ["noise_tunnel:saliency", "noise_tunnel:integrated_gradients"]
ON_CPU = [c for c in CHECKS if c != "cuda_matches_cpu"]


@pytest.mark.parametrize("check", ON_CPU)
@pytest.mark.parametrize("name", NAMES)
def test_invariant(name, check):
    report = check_attribution(name, checks=[check])
    assert report[check] == "passed" or report[check].startswith(("skipped", "known failure"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name):
    assert check_attribution(name, checks=["cuda_matches_cpu"])["cuda_matches_cpu"] == "passed"


def test_the_suite_covers_every_registered_method():
    assert set(METHODS) - set(NAMES) == set(names(tree=True))
