"""Invariants every algorithm in the registry must keep (scikit-learn style common tests),
run through the public :func:`perspicio.core.testing.check_attribution`."""

from __future__ import annotations

import pytest
import torch

from perspicio.core.registry import METHODS, names
from perspicio.core.testing import CHECKS, check_attribution, method_under_test

#: every registered method a torch model runs (the tree methods are tested in tests/tabular),
#: and two noise tunnels
NAMES = list(names(tree=False)) + ["noise_tunnel:saliency", "noise_tunnel:integrated_gradients"]
ON_CPU = [c for c in CHECKS if c != "cuda_matches_cpu"]


def call(name: str, model, inputs, target=0):
    """Run a registered method as the suite does (its small test settings, the shared facts):
    for other tests that need the suite's calls (the threads' tests)."""
    return method_under_test(name)(model, inputs, target)


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


class _BatchScaled:
    """A method whose rows depend on their batch (scaled by the batch's largest value)."""

    @staticmethod
    def make(model):
        from perspicio.core import Saliency

        class BatchScaled(Saliency):
            def attribute(self, inputs, target=None, additional_forward_args=None):
                args = additional_forward_args
                grads = super().attribute(inputs, target, additional_forward_args=args)
                if isinstance(grads, tuple):
                    return tuple(g / g.amax() for g in grads)
                return grads / grads.amax()

        return BatchScaled(model)


def test_check_attribution_reports_known_failures_and_raises_on_others():
    checks = ["batch_independence", "shapes_batch_of_one"]
    with pytest.raises(AssertionError, match="fails batch_independence: AssertionError: a row's"):
        check_attribution(_BatchScaled.make, checks=checks)
    known = {"batch_independence": "scaled per batch"}
    report = check_attribution(_BatchScaled.make, checks=checks, known_failures=known)
    assert report == {
        "batch_independence": "known failure: scaled per batch",
        "shapes_batch_of_one": "passed",
    }
    with pytest.raises(ValueError, match=r"`checks`: unknown \['nope'\]"):
        check_attribution("saliency", checks=["nope"])
    with pytest.raises(TypeError, match="`make` must return an Attribution, got Linear"):
        check_attribution(lambda model: torch.nn.Linear(2, 2))


def test_check_attribution_takes_classes_and_layer_makers():
    from perspicio.core import IntegratedGradients, LayerGradCam

    assert check_attribution(IntegratedGradients, checks=["tuple_in_tuple_out"]) == {
        "tuple_in_tuple_out": "passed"
    }
    report = check_attribution(
        lambda model, layer: LayerGradCam(model, layer), checks=["shapes_batch_of_four"]
    )
    assert report == {"shapes_batch_of_four": "passed"}
