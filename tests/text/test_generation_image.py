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


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tokenizer": "tok"}, TypeError, "must be the model's processor"),
        ({"method": "layer_integrated_gradients"}, ValueError, "perturbation method"),
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
