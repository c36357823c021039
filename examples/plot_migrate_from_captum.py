"""
Migrating a Captum script
=========================

A script written for Captum runs after one search-and-replace: ``captum.attr`` becomes
``perspicio.core`` (and ``captum.<package>`` becomes ``perspicio.core.<package>``). Below,
the lines a Captum tutorial writes, on the shapes demo CNN; the comments show what they
were.
"""

# %%
import torch

# from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
# from captum.attr import visualization as viz
from perspicio.core import IntegratedGradients, NoiseTunnel, Saliency
from perspicio.core import visualization as viz
from perspicio.vision.demo import shapes_dataset, shapes_model

torch.set_num_threads(2)
model = shapes_model()
images, labels, _ = shapes_dataset(4, seed=1)
x = images[2:3]  # a cross
target = int(labels[2])

# %%
# Captum's calls and arguments, unchanged.
ig = IntegratedGradients(model)
attr_ig, delta = ig.attribute(x, target=target, n_steps=50, return_convergence_delta=True)
nt = NoiseTunnel(Saliency(model))
attr_sg = nt.attribute(x, nt_type="smoothgrad", nt_samples=20, stdevs=0.1, target=target)
print("convergence delta:", float(delta))

# %%
# What perspicio adds: seeds make sampling reproducible, and a row's answer does not depend
# on the rest of the batch.
first = nt.attribute(x, nt_type="smoothgrad", nt_samples=20, stdevs=0.1, target=target, generator=0)
again = nt.attribute(x, nt_type="smoothgrad", nt_samples=20, stdevs=0.1, target=target, generator=0)
print("reproducible:", torch.equal(first, again))

# %%
# Captum's visualization calls, unchanged (they return the figure).
fig, axes = viz.visualize_image_attr_multiple(
    attr_ig[0].permute(1, 2, 0).numpy(),
    x[0].permute(1, 2, 0).numpy(),
    ["original_image", "blended_heat_map", "heat_map"],
    ["all", "absolute_value", "all"],
    titles=["input", "Integrated Gradients", "signed"],
    show_colorbar=True,
    use_pyplot=False,
)
fig
