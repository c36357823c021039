"""The front ends on one model shared by several threads (a notebook server, a web service,
the app): each thread gets exactly the explanation it gets alone.

As in ``tests/core/test_threads.py`` the interleaving is forced: hooks of the test's own
make every forward pass of the model wait for the other threads' at its start and at its
end, so each thread's layers run while every other thread is inside the model.
"""

from __future__ import annotations

import pytest
import torch

from .conftest import make_mlp
from .core.test_threads import THREADS, Rendezvous, in_threads


def meeting(model: torch.nn.Module, rendezvous: Rendezvous) -> list:
    """Make ``model``'s passes meet the other threads' (the test's own hooks)."""
    return [
        model.register_forward_pre_hook(lambda m, a: rendezvous.wait("start")),
        model.register_forward_hook(lambda m, a, o: rendezvous.wait("end")),
    ]


def same_in_threads(model, explain, n: int = THREADS) -> None:
    """``explain(i)`` alone and in ``n`` threads at once give identical tensors."""
    rendezvous = Rendezvous(n)
    handles = meeting(model, rendezvous)
    try:
        alone = [explain(i) for i in range(n)]
        rendezvous.on = True
        together = in_threads(explain, n)
    finally:
        for h in handles:
            h.remove()
    for i in range(n):
        assert torch.equal(alone[i], together[i]), f"thread {i}"
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]
    assert hooks == [(0, 0)] * len(hooks), "a hook was left on the model"


@pytest.mark.parametrize("method", ["gradcam", "integrated_gradients", "occlusion"])
def test_vision_explain_on_a_shared_resnet(method):
    torchvision = pytest.importorskip("torchvision")
    from perspicio import vision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=5).eval()
    images = [
        torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in range(THREADS)
    ]
    kwargs = {
        "integrated_gradients": {"n_steps": 4},
        "occlusion": {"sliding_window_shapes": (3, 16, 16), "strides": (3, 16, 16)},
    }
    same_in_threads(
        model,
        lambda i: (
            vision.explain(
                model, images[i], method=method, target=i % 5, **kwargs.get(method, {})
            ).attributions
        ),
    )
    assert not model.training


@pytest.mark.parametrize("method", ["layer_integrated_gradients", "feature_ablation"])
def test_text_explain_on_a_shared_model(method):
    pytest.importorskip("transformers")
    from perspicio import text
    from perspicio.text.demo import tiny_bert

    model, tokenizer = tiny_bert()
    sentences = [
        "a gorgeous film",
        "a dull and tired plot",
        "the cast is wonderful",
        "i hated every minute",
    ]
    same_in_threads(
        model,
        lambda i: text.explain(model, tokenizer, sentences[i], method=method).attributions,
    )


@pytest.mark.parametrize("method", ["integrated_gradients", "kernel_shap", "gradient_shap"])
def test_tabular_explain_on_a_shared_model(method):
    pytest.importorskip("pandas")
    from perspicio import tabular

    model = make_mlp(in_features=6, out=3)
    background = torch.randn(40, 6, generator=torch.Generator().manual_seed(1))
    explainer = tabular.Explainer(model, background, method=method, seed=0, n_samples=40)
    rows = torch.randn(THREADS, 6, generator=torch.Generator().manual_seed(2))
    same_in_threads(model, lambda i: explainer.explain(rows[i : i + 1], target=1).attributions)
