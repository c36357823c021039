"""text.explain_generation with an image: a vision-language model's answer explained by
segments of the image."""

import pytest
import torch

from perspicio.text import explain_generation

from ..core.llm import vlms

pytest.importorskip("transformers")
torch.set_num_threads(1)


def test_grid_mask_and_mask_list_segments_with_a_llava_processor():
    model, proc = vlms.llava()
    image = vlms.scene(0)
    res = explain_generation(model, proc, vlms.LLAVA_PROMPT, image=image, target="red circle")
    assert res.input_tokens == [f"image_feature_{i}" for i in range(16)]
    assert res.output_tokens == ["red", "circle"] and res.token_attr.shape == (2, 16)
    fig, _ = res.plot_image_heatmap()
    assert fig is not None
    halves = torch.zeros(20, 24, dtype=torch.long)
    halves[:, 12:] = 1
    two = explain_generation(
        model,
        proc,
        vlms.LLAVA_PROMPT,
        image=image,
        target="red circle",
        segments=halves,
        method="shapley_values",
    )
    assert two.seq_attr.shape == (2,)
    masks = [halves == 0, halves == 1, torch.ones(20, 24, dtype=torch.bool)]
    lime = explain_generation(
        model,
        proc,
        vlms.LLAVA_PROMPT,
        image=image,
        target="red",
        segments=masks,
        method="lime",
        n_samples=30,
    )
    assert lime.seq_attr.shape == (3,) and lime.token_attr is None
    generated = explain_generation(
        model,
        proc,
        vlms.LLAVA_PROMPT,
        image=image,
        segments=2,
        gen_args={"max_new_tokens": 2, "min_new_tokens": 2, "do_sample": False},
    )
    assert len(generated.output_tokens) == 2


def test_a_gradient_method_goes_through_a_llavas_pixels_and_prompt():
    """Layer Integrated Gradients on a Hugging Face LLaVA (CLIP vision tower, built from a
    config): the text embeddings and the vision tower's patch embedding move together; the
    prompt's part, the image's part per pixel and their completeness gap come back."""
    model, proc = vlms.llava()
    image = vlms.scene(0)
    res = explain_generation(
        model,
        proc,
        vlms.LLAVA_PROMPT,
        image=image,
        target="red",
        method="layer_integrated_gradients",
        n_steps=64,
    )
    height, width = image.size[1], image.size[0]
    assert res.image_attr.shape == (len(res.output_tokens), height, width)
    assert res.token_attr.shape == (len(res.output_tokens), len(res.input_tokens))
    total = res.image_attr.sum() + res.token_attr.sum()
    change = total - res.convergence_delta.sum()
    assert abs(float(res.convergence_delta.sum())) < 0.05 * max(1.0, abs(float(change)))
    assert float(res.image_attr.abs().sum()) > 0 and float(res.token_attr.abs().sum()) > 0
    with pytest.raises(ValueError, match="set by the input"):
        from perspicio.core import ImageMaskInput, LayerIntegratedGradients, LLMGradientAttribution
        from perspicio.text.adapters import embedding_layer, patch_embedding_layer

        layers = [embedding_layer(model), patch_embedding_layer(model)]
        inp = ImageMaskInput(
            image,
            processor_fn=lambda im: proc(text=vlms.LLAVA_PROMPT, images=im, return_tensors="pt"),
        )
        LLMGradientAttribution(LayerIntegratedGradients(model, layers), proc.tokenizer).attribute(
            inp, target="red", baselines=torch.zeros(1)
        )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tokenizer": "tok"}, TypeError, "must be the model's processor"),
        ({"segments": 0}, ValueError, "grid size must be at least 1"),
        ({"segments": "slic"}, TypeError, "`segments`"),
        ({"segments": torch.zeros(3, 3)}, ValueError, r"`mask` has shape \(3, 3\)"),
        ({"method": "magic"}, ValueError, "`method`"),
    ],
)
def test_bad_image_arguments_are_named(kwargs, error, match):
    model, proc = vlms.llava()
    args = {
        "model": model,
        "tokenizer": proc,
        "prompt": vlms.LLAVA_PROMPT,
        "image": vlms.scene(0),
        "target": "red",
    } | kwargs
    with pytest.raises(error, match=match):
        explain_generation(**args)
