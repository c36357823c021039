"""The front ends and the dataset engine on a CUDA device: same answers as on the CPU, results
where the user's model lives. Skipped without a GPU (CI has none)."""

from __future__ import annotations

import pytest
import torch

from perspicio import core

from .conftest import make_cnn, make_mlp

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def close(a, b, atol=1e-4, rtol=1e-3) -> bool:
    a, b = (torch.as_tensor(v).detach().cpu().double() for v in (a, b))
    return torch.allclose(a, b, atol=atol, rtol=rtol)


@pytest.mark.parametrize(
    "cls", [core.FeatureAblation, core.Occlusion, core.ShapleyValueSampling, core.KernelShap]
)
def test_auto_chunks_on_the_gpu_equal_one_at_a_time(cls):
    model = make_cnn(pool=False).cuda()
    x = torch.randn(3, 3, 8, 8, device="cuda")
    kwargs = {"target": 1}
    if cls is core.Occlusion:
        kwargs["sliding_window_shapes"] = (3, 2, 2)
    if cls in (core.ShapleyValueSampling, core.KernelShap):
        kwargs.update(n_samples=20, generator=0)
        kwargs["feature_mask"] = (
            torch.arange(16, device="cuda")
            .view(1, 1, 4, 4)
            .repeat_interleave(2, 2)
            .repeat_interleave(2, 3)
        )
    auto = cls(model).attribute(x, perturbations_per_eval="auto", **kwargs)
    one = cls(model).attribute(x, perturbations_per_eval=1, **kwargs)
    assert auto.device.type == "cuda"
    assert close(auto, one, atol=1e-5)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "gradcam", "occlusion"])
def test_vision_explain_on_a_cuda_model_matches_cpu(method):
    from perspicio import vision

    model = make_cnn(pool=False)
    img = torch.rand(3, 8, 8)
    kwargs = {"sliding_window_shapes": (3, 2, 2)} if method == "occlusion" else {}
    on_cpu = vision.explain(model, img, method=method, target=1, **kwargs)
    on_gpu = vision.explain(model.cuda(), img, method=method, target=1, **kwargs)
    assert close(on_cpu.attributions, on_gpu.attributions)
    assert next(model.parameters()).device.type == "cuda"  # the model stays where it was


def test_tabular_explain_on_a_cuda_model_matches_cpu():
    from perspicio import tabular

    model = make_mlp(in_features=6, out=2)
    X, background = torch.randn(5, 6), torch.randn(30, 6)
    kw = dict(background=background, method="integrated_gradients", target=1)
    on_cpu = tabular.explain(model, X, **kw)
    on_gpu = tabular.explain(model.cuda(), X, **kw)
    assert close(on_cpu.attributions, on_gpu.attributions)


def test_text_explain_on_a_cuda_model_matches_cpu():
    from perspicio import text
    from perspicio.text.demo import tiny_bert

    model, tokenizer = tiny_bert()
    sentence = "the film was wonderful"
    on_cpu = text.explain(model, tokenizer, sentence, target=1)
    on_gpu = text.explain(model.cuda(), tokenizer, sentence, target=1)
    assert on_cpu.units == on_gpu.units
    assert close(on_cpu.attributions, on_gpu.attributions, atol=1e-3, rtol=1e-2)


def test_attribute_dataset_moves_batches_to_the_model():
    model = make_mlp(in_features=6, out=2).cuda()
    rows = torch.randn(40, 6)  # on the CPU, as a dataset usually is
    result = core.attribute_dataset(
        lambda: core.Saliency(model), rows, target=1, batch_size=16, show_progress=False
    )
    expected = core.Saliency(model.cpu()).attribute(rows, target=1).abs().mean(0)
    assert close(result.reducers["mean_abs"], expected, atol=1e-5)


def test_incremental_occlusion_on_the_gpu_equals_the_batched_evaluation():
    tvm = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    model = tvm.resnet18(weights=None).eval().cuda()
    x = torch.randn(2, 3, 64, 64, device="cuda")
    occ = core.Occlusion(model)
    kwargs = {"sliding_window_shapes": (3, 9, 9), "strides": (3, 6, 6), "target": [1, 4]}
    fast = occ.attribute(x, incremental=True, **kwargs)
    assert occ.incremental_reason is None and fast.device.type == "cuda"
    slow = occ.attribute(x, incremental=False, **kwargs)
    assert close(fast, slow, atol=1e-4 * float(slow.abs().max()))


@pytest.mark.parametrize("cell", [torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN])
def test_gradient_methods_on_a_recurrent_model_in_eval_mode(cell):
    """cuDNN refuses RNN backward in eval mode; attribute runs the recurrent layers without
    cuDNN while it records a graph, and the model keeps its mode and cuDNN its flag."""
    torch.manual_seed(0)
    rnn = cell(4, 6, num_layers=2, dropout=0.3, batch_first=True)
    head = torch.nn.Linear(6, 3)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.head = rnn, head

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    model = Net().eval()
    x = torch.randn(5, 7, 4)
    on_cpu = core.IntegratedGradients(model).attribute(x, target=2, n_steps=8)
    model.cuda()
    for explainer in (
        core.IntegratedGradients(model),
        core.Saliency(model),
        core.LayerGradientXActivation(model, model.head),
        core.NoiseTunnel(core.Saliency(model)),
    ):
        kwargs = {"n_steps": 8} if isinstance(explainer, core.IntegratedGradients) else {}
        out = explainer.attribute(x.cuda(), target=2, **kwargs)
        assert out.device.type == "cuda" and torch.isfinite(out).all()
        if kwargs:
            assert close(out, on_cpu)
    assert not model.training and not model.rnn.training
    assert torch.backends.cudnn.enabled
