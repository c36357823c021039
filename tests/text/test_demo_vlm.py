"""The shapes vision-language model: trained here, it names the shape in a scene, and the
attribution of its answer points at the shape.

Thresholds: below the lowest scores of the model trained at seeds 0 and 1 under the
default, AVX2 and AVX-512 instruction sets (``python -m benchmarks.ground_truth_seeds
--models vlm --seeds 0 1``) on the 40 held-out scenes: accuracy 0.975, shape mask first
1.0, top grid cell on the shape 0.975 (feature ablation) and 1.0 (Shapley sampling); the
smallest drop of log p(answer) with the whole image painted black was 8.6 nats."""

import pytest
import torch

import perspicio.core as P

from .ground_truth_vlm import grid_mask, vlm_scores

pytest.importorskip("transformers")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def vlm():
    from perspicio.text.demo_vlm import shapes_vlm

    return shapes_vlm()


def test_the_answer_and_its_attribution_point_at_the_shape(vlm):
    scores = vlm_scores(*vlm)
    assert scores.accuracy >= 0.95, scores
    assert scores.shape_hit >= 0.9, scores  # the shape's mask outranks the rest of the image
    assert scores.grid_hit >= 0.9, scores  # the top grid cell touches the shape
    assert scores.grid_hit_shapley >= 0.9, scores
    # painting the whole image out moves log p(answer) by more than 3 nats in every scene:
    # the attributions above are not near-zero values that agree by accident
    assert scores.blank_drop > 3.0, scores


def test_the_demo_runs_through_captum_style_calls_and_generates(vlm):
    from perspicio.text.demo_vlm import QUESTION, processor_fn, prompt, shape_scenes

    model, proc = vlm
    scene = shape_scenes(1, seed=2000)[0]
    x = proc(text=prompt(QUESTION), images=scene.image, return_tensors="pt")
    out = model.generate(**x, max_new_tokens=5)
    assert proc.tokenizer.convert_ids_to_tokens(out[0, x["input_ids"].shape[1] :].tolist()) == [
        scene.shape,
        "<eos>",
    ]
    inp = P.ImageMaskInput(
        scene.image, mask=grid_mask(), baseline=(0, 0, 0), processor_fn=processor_fn(proc)
    )
    la = P.LLMAttribution(P.KernelShap(model), proc.tokenizer)
    res = la.attribute(inp, gen_args={"max_new_tokens": 1}, n_samples=200, generator=0)
    assert la.scoring == "one pass" and res.output_tokens == [scene.shape]
    touched = torch.stack([(scene.mask & (grid_mask() == c)).any() for c in range(16)])
    assert touched[res.seq_attr.argmax()]


def test_gradients_through_the_image_point_at_the_shape(vlm):
    """LayerIntegratedGradients on the text embeddings and the image encoder's first
    convolution together: the answer's map over the pixels peaks on the shape in every
    held-out scene (40 of 40 here; the bar is 90%), and with enough steps the text and image
    parts add up to the change of log p(answer) (completeness: 4e-4 nats at 256 steps, against
    about 11 nats of change; the quadrature error is 0.3 at 64 steps on this model)."""
    from perspicio.text.demo_vlm import processor_fn, shape_scenes

    from .ground_truth_vlm import N_SCENES, SCENE_SEED

    model, proc = vlm
    layers = [model.embed, model.encoder[0]]
    hits = []
    for scene in shape_scenes(N_SCENES, seed=SCENE_SEED):
        inp = P.ImageMaskInput(scene.image, baseline=(0, 0, 0), processor_fn=processor_fn(proc))
        lig = P.LLMGradientAttribution(P.LayerIntegratedGradients(model, layers), proc.tokenizer)
        res = lig.attribute(inp, target=scene.shape, n_steps=32)
        assert res.image_attr.shape == (1, 32, 32) and res.token_attr.shape == (1, 73)
        hits.append(bool(torch.as_tensor(scene.mask).flatten()[res.image_attr[0].argmax()]))
    assert sum(hits) / len(hits) >= 0.9, hits
    exact = lig.attribute(inp, target=scene.shape, n_steps=256)
    change = exact.image_attr.sum() + exact.token_attr.sum() - exact.convergence_delta[0]
    assert abs(float(exact.convergence_delta[0])) < 1e-2 * abs(float(change))
    assert "image painted (0, 0, 0)" in exact.parameters["baseline"]
    fig = exact.plot()  # the image part drawn over the image
    assert len(fig.axes) == 2


def test_an_image_prompt_needs_both_layers(vlm):
    from perspicio.text.demo_vlm import processor_fn, shape_scenes

    model, proc = vlm
    scene = shape_scenes(1, seed=7)[0]
    inp = P.ImageMaskInput(scene.image, processor_fn=processor_fn(proc))
    lig = P.LLMGradientAttribution(P.LayerIntegratedGradients(model, model.embed), proc.tokenizer)
    with pytest.raises(ValueError, match="two layers at once"):
        lig.attribute(inp, target="circle")


def test_gradient_x_activation_goes_through_the_image_too(vlm):
    """A layer method without baselines (gradient x activation) on both layers: a map over
    the pixels, no completeness to state; a method that draws its baselines from a
    population is refused (an image prompt has one baseline)."""
    from perspicio.text.demo_vlm import processor_fn, shape_scenes

    model, proc = vlm
    scene = shape_scenes(1, seed=1000)[0]
    inp = P.ImageMaskInput(scene.image, baseline=(0, 0, 0), processor_fn=processor_fn(proc))
    layers = [model.embed, model.encoder[0]]
    gxa = P.LLMGradientAttribution(P.LayerGradientXActivation(model, layers), proc.tokenizer)
    res = gxa.attribute(inp, target=scene.shape)
    assert res.image_attr.shape == (1, 32, 32) and res.convergence_delta is None
    shap = P.LLMGradientAttribution(P.LayerGradientShap(model, layers), proc.tokenizer)
    with pytest.raises(ValueError, match="draws its baselines from a population"):
        shap.attribute(inp, target=scene.shape)
