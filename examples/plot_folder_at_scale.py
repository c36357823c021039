"""
Explain a folder of images at scale
===================================

``vision.explain_dataset`` streams a folder of images through a method in shards: each
shard's maps are written to disk, only running means stay in memory, and a rerun after an
interruption resumes where it stopped. Here a folder of shapes (one subfolder per class) is
written to a temporary directory, explained with Integrated Gradients for each image's own
label, and the mean map of each class is drawn.
"""

# %%
import tempfile
from pathlib import Path

import torch
from matplotlib.figure import Figure
from PIL import Image
from torchvision import transforms

from perspicio import vision
from perspicio.vision.demo import SHAPES, shapes_dataset, shapes_model

torch.set_num_threads(2)
model = shapes_model()
root = Path(tempfile.mkdtemp())
images, labels, _ = shapes_dataset(64, seed=11)
for i, (image, label) in enumerate(zip(images, labels)):
    folder = root / "val" / f"{label}-{SHAPES[label]}"  # sorted folders = the model's classes
    folder.mkdir(parents=True, exist_ok=True)
    pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(pixels).save(folder / f"{i:03d}.png")

# %%
result = vision.explain_dataset(
    model,
    root / "val",
    method="integrated_gradients",
    transform=transforms.ToTensor(),
    batch_size=16,
    output=root / "runs" / "val-ig",  # shards and a manifest
    reducers=("mean_abs", "per_class_mean_abs"),
    target="label",
)
print(result.n_rows, "images in", len(result.shards), "shards")

# %%
# A second call with the same arguments reads the finished shards instead of recomputing.
again = vision.explain_dataset(
    model,
    root / "val",
    method="integrated_gradients",
    transform=transforms.ToTensor(),
    batch_size=16,
    output=root / "runs" / "val-ig",
    reducers=("mean_abs", "per_class_mean_abs"),
    target="label",
)
print("same means:", (again.reducers["mean_abs"] == result.reducers["mean_abs"]).all())

# %%
# The mean absolute attribution of each class: where, on average, the evidence for it lies.
fig = Figure(figsize=(10, 2.8))
for k, name in enumerate(SHAPES):
    ax = fig.add_subplot(1, len(SHAPES), k + 1)
    ax.imshow(result.reducers["per_class_mean_abs"][k].sum(0), cmap="Blues")
    ax.set_title(name)
    ax.axis("off")
fig
