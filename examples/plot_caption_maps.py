"""
Which pixels match this caption?
================================

A small CLIP-style dual encoder, trained here on scenes of two shapes, is asked about each
shape of a scene it has not seen. The caption is the target: each map explains the model's
image-text similarity for its caption, and points at the shape it names.
"""

# %%
import torch

from perspicio import vision
from perspicio.vision.demo import CAPTIONS, ShapesTokenizer, shape_pairs_dataset, shapes_clip

torch.set_num_threads(2)
model, tokenizer = shapes_clip(), ShapesTokenizer()  # trained on first use, then cached
images, pairs, masks = shape_pairs_dataset(8, seed=99)
scene, named = images[1], [CAPTIONS[int(k)] for k in pairs[1]]
exp = vision.explain(model, scene, target=named, processor=tokenizer)
for caption, attribution, mask in zip(named, exp.attributions, masks[1]):
    positive = attribution.sum(0).clamp(min=0)
    print(f"{caption!r}: {float(positive[mask].sum() / positive.sum()):.0%} on its shape")

# %%
# One Integrated Gradients map per caption.
exp.plot()

# %%
# Grad-CAM of the first caption, on the image tower's last convolution.
vision.explain(model, scene, target=named[0], processor=tokenizer, method="gradcam").plot()
