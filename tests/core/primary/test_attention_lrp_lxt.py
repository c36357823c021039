"""LRP's attention-aware variants equal LXT 2.1's relevances (recorded by
tests/fixtures/attnlrp/record_lxt.py in an environment of its own) on tiny float64
transformers: BERT, GPT-2, LLaMA, Qwen2 (AttnLRP) and torchvision's ViT (CP-LRP)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from perspicio.core import LRP, LayerLRP

safetensors = pytest.importorskip("safetensors.torch")
transformers = pytest.importorskip("transformers")

FIXTURES = Path(__file__).parents[2] / "fixtures" / "attnlrp"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
#: relative to the largest relevance: LayerNorm models in float64; RMSNorm models compute
#: their normalisation in float32 (transformers and LXT alike)
TOLERANCE = {"bert": 1e-9, "gpt2": 1e-9, "vit": 1e-9, "llama": 1e-5, "qwen2": 1e-5}


def _load(name: str, attention: str = "eager") -> tuple[nn.Module, dict]:
    entry = MANIFEST[name]
    tensors = safetensors.load_file(FIXTURES / f"{name}.safetensors")
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    if name == "vit":
        from torchvision.models.vision_transformer import VisionTransformer

        model = VisionTransformer(**entry["config"])
    else:
        module = importlib.import_module(entry["model_module"])
        config_cls = getattr(transformers, entry["config_class"])
        config = config_cls(**(entry["config"] | {"attn_implementation": attention}))
        model = getattr(module, entry["model_class"])(config)
    model.load_state_dict(state, strict=True)
    model = model.double().eval()
    fixture = {k[len("fixture.") :]: v for k, v in tensors.items() if k.startswith("fixture.")}
    return model, fixture | {"target": entry["target"]}


class Logits(nn.Module):
    """A Hugging Face model as a function of its input embeddings (or ids) to its logits."""

    def __init__(self, model: nn.Module, embeds: bool = True) -> None:
        super().__init__()
        self.model, self.embeds = model, embeds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = "inputs_embeds" if self.embeds else "input_ids"
        return self.model(**{key: x}).logits


def _target(name: str, fixture: dict):
    return (
        fixture["target"] if name == "bert" else (fixture["input"].shape[1] - 1, fixture["target"])
    )


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "qwen2"])
def test_language_models_equal_lxt(name, attention):
    model, fixture = _load(name, attention)
    ids = fixture["input"]
    wrapped = Logits(model)
    embeds = model.get_input_embeddings()(ids).detach()
    with torch.no_grad():  # the model first: same weights, same logits
        logits = fixture["logits"]
        bound = TOLERANCE[name] * logits.abs().max()  # (float32 norms: sdpa != eager by 1e-8)
        torch.testing.assert_close(wrapped(embeds), logits, atol=bound, rtol=0)
    expected = fixture["relevance"]
    scale = expected.abs().max()
    lrp = LRP(wrapped)
    assert lrp.variant == "attnlrp"
    ours = lrp.attribute(embeds, target=_target(name, fixture))
    torch.testing.assert_close(ours, expected, atol=TOLERANCE[name] * scale, rtol=0)
    # from the token ids, at the embedding layer: the same relevance
    layer = LayerLRP(Logits(model, embeds=False), model.get_input_embeddings())
    at_layer = layer.attribute(ids, target=_target(name, fixture))
    torch.testing.assert_close(at_layer, expected, atol=TOLERANCE[name] * scale, rtol=0)


def test_torchvision_vit_equals_lxt_cp_lrp():
    model, fixture = _load("vit")
    image = fixture["input"]
    with torch.no_grad():
        torch.testing.assert_close(model(image), fixture["logits"], atol=1e-10, rtol=0)
    expected = fixture["relevance"]
    ours = LRP(model, variant="cp-lrp").attribute(image, target=fixture["target"])
    torch.testing.assert_close(ours, expected, atol=1e-9 * expected.abs().max(), rtol=0)
    # AttnLRP differs from CP-LRP there (relevance also flows through the softmax)
    attn = LRP(model).attribute(image, target=fixture["target"])
    assert (attn - expected).abs().max() > 1e-3 * expected.abs().max()


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "qwen2"])
def test_float32_models_agree_with_lxt_to_float32_rounding(name):
    """A library's default dtype: the same weights in float32 against LXT's float64
    relevances, within 1e-6 of the largest (measured: 4e-8 to 1.2e-7)."""
    model, fixture = _load(name, "sdpa")
    model = model.float()
    embeds = model.get_input_embeddings()(fixture["input"]).detach()
    ours = LRP(Logits(model)).attribute(embeds, target=_target(name, fixture)).double()
    expected = fixture["relevance"]
    torch.testing.assert_close(ours, expected, atol=1e-6 * expected.abs().max(), rtol=0)
