"""A method registered at run time appears everywhere its spec says it belongs, with no other
edit: the front ends' lists, the explorer, the app's pages, ``compare_methods`` and the
invariant suite. Registering is reversible: leaving the block takes it away again."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from perspicio.core import FeatureAblation, Saliency
from perspicio.core.registry import MethodSpec, register
from perspicio.core.testing import CHECKS, check_attribution

ROOT = Path(__file__).resolve().parents[1]


class ToyGradient(Saliency):
    """The signed gradient: a gradient method in a few lines."""

    def attribute(self, inputs, target=None, additional_forward_args=None):
        return super().attribute(
            inputs, target, abs=False, additional_forward_args=additional_forward_args
        )


class ToyAblation(FeatureAblation):
    """Feature ablation under another name: a perturbation method."""


GRADIENT = MethodSpec("toy_gradient", ToyGradient, "gradient", input_gradients=True)
PERTURBATION = MethodSpec("toy_ablation", ToyAblation, "perturbation", "single", generation=True)


@pytest.fixture
def toys():
    with register(GRADIENT), register(PERTURBATION):
        yield "toy_gradient", "toy_ablation"


def test_registered_methods_appear_in_every_list_and_go_again(toys):
    from perspicio import tabular, text, vision
    from perspicio.insights import METHOD_ARGUMENTS

    gradient, perturbation = toys
    assert {gradient, perturbation} <= set(vision.METHODS)
    assert perturbation in text.METHODS and gradient not in text.METHODS  # ids: no gradients
    assert perturbation in text.GENERATION_METHODS
    assert {gradient, perturbation} <= set(tabular.TABULAR_METHODS)
    assert perturbation in tabular.GRADIENT_FREE and gradient not in tabular.GRADIENT_FREE
    assert {gradient, perturbation} <= set(METHOD_ARGUMENTS)


def test_registered_methods_run_in_the_front_ends_and_the_comparison(toys):
    from perspicio import tabular, vision
    from perspicio.core.metrics import compare_methods

    from .conftest import make_cnn, make_mlp

    net = make_mlp()
    table = compare_methods(
        net,
        torch.randn(3, 6),
        list(toys),
        target=0,
        generator=0,
        feature_mask=torch.arange(6).view(1, 6) // 2,
    )
    assert list(table.index) == [*toys, "random (reference)", "constant (reference)"]
    for method in toys:
        exp = vision.explain(make_cnn(), torch.rand(3, 8, 8), method=method, n_segments=4, seed=0)
        assert exp.method == method and exp.attributions.shape[-2:] == (8, 8)
        explainer = tabular.Explainer(net, torch.randn(20, 6), method=method, seed=0)
        assert explainer.explain(torch.randn(2, 6)).attributions.shape == (2, 6)


def test_registered_methods_pass_the_invariant_suite(toys):
    for method in toys:
        report = check_attribution(method)
        assert set(report) == set(CHECKS)
        assert all(r == "passed" or r.startswith("skipped") for r in report.values()), report


def test_unregistered_on_leaving():
    from perspicio import text, vision

    with register(GRADIENT), register(PERTURBATION):
        assert "toy_gradient" in vision.METHODS
    assert "toy_gradient" not in vision.METHODS and "toy_ablation" not in text.METHODS


@pytest.mark.slow
def test_registered_methods_appear_on_the_app_pages(toys):
    pytest.importorskip("streamlit")
    pytest.importorskip("efficientnet_lite_pytorch")
    from streamlit.testing.v1 import AppTest

    gradient, perturbation = toys

    def page(name: str | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "apps" / "app.py"), default_timeout=600)
        at.run()
        if name is not None:
            at.switch_page(f"pages/{name}.py").run()
        assert not at.exception, at.exception
        return at

    assert {gradient, perturbation} <= set(page().multiselect(key="img_methods").options)
    assert perturbation in page("text").selectbox(key="txt_method").options
    assert {gradient, perturbation} <= set(page("table").selectbox(key="tab_method").options)
    assert perturbation in page("generation").selectbox(key="gen_method").options
    explorer = page("explorer").selectbox(key="explorer_method").options
    assert {gradient, perturbation} <= set(explorer)
