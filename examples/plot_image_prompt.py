"""
Which part of an image made a vision-language model answer?
============================================================

A small vision-language model trained here (LLaVA's layout: image features fill the
prompt's ``<image>`` tokens, a causal transformer answers) names the shape in a scene of
clutter. ``ImageMaskInput`` paints segments of the image out and measures how the
log-probability of the answer changes: the shape's segments should matter, the clutter not.
"""

# %%
import torch

from perspicio.core import FeatureAblation, ImageMaskInput, LLMAttribution
from perspicio.text import explain_generation
from perspicio.text.demo_vlm import QUESTION, processor_fn, prompt, shape_scenes, shapes_vlm

torch.set_num_threads(2)
model, processor = shapes_vlm()  # trained on first use (cached)
scene = shape_scenes(1, seed=1001)[0]

# %%
# One call: the greedy answer and each cell of a 4 x 4 grid's attribution to it.
res = explain_generation(
    model,
    processor,
    prompt(QUESTION),
    image=scene.image,
    segments=4,
    gen_args={"max_new_tokens": 1, "do_sample": False},
)
print(res.output_tokens, "- the scene holds a", scene.colour, scene.shape)
fig, ax = res.plot_image_heatmap()
fig

# %%
# Captum's form: the shape's own mask and the rest of the image as two features (masks
# may overlap), painted black (the scenes' background) when switched off.
inp = ImageMaskInput(
    scene.image,
    mask_list=[scene.mask, ~scene.mask],
    baseline=(0, 0, 0),
    processor_fn=processor_fn(processor),
)
res = LLMAttribution(FeatureAblation(model), processor.tokenizer).attribute(inp, target=scene.shape)
print(dict(zip(["the shape", "the rest"], res.seq_attr.tolist())))
fig, ax = inp.plot_mask_overlay(border_width=1)
fig

# %%
# Gradients through the image: Layer Integrated Gradients moves the prompt's token
# embeddings and the image encoder's first convolution together; the answer's attribution
# per pixel, and the prompt's part beside it (their sum gap: the convergence delta).
grad = explain_generation(
    model,
    processor,
    prompt(QUESTION),
    image=scene.image,
    target=scene.shape,
    method="layer_integrated_gradients",
    n_steps=128,
)
print(
    "image",
    round(float(grad.image_attr.sum()), 3),
    "prompt",
    round(float(grad.token_attr.sum()), 3),
    "gap",
    round(float(grad.convergence_delta[0]), 4),
)
grad.plot()
