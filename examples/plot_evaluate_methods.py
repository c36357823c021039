"""
Which method is faithful? Scoring explanations
==============================================

Four methods on the shapes demo CNN, scored with the faithfulness metrics of
``perspicio.core.metrics``: infidelity, sensitivity, the deletion and insertion curves and
sparseness, on the same held-out images, each explained for its predicted class.
"""

# %%
import torch
from matplotlib.figure import Figure
from torch import nn

from perspicio.core import IntegratedGradients, Saliency
from perspicio.core.metrics import compare_methods, deletion_curve
from perspicio.vision.demo import shapes_dataset, shapes_model

torch.set_num_threads(2)
model = shapes_model()
probabilities = nn.Sequential(model, nn.Softmax(dim=1)).eval()  # scores in [0, 1]
x, labels, _ = shapes_dataset(8, seed=3)
target = model(x).argmax(1)

# %%
table = compare_methods(
    probabilities,
    x,
    ["saliency", "integrated_gradients", "feature_ablation", "deeplift"],
    target=target,
    generator=0,
)
print(table.round(4).to_string())
print("higher is better:", table.attrs["higher_is_better"])

# %%
# The deletion curves behind ``deletion_auc``: the score as the most important pixels are
# blacked out, a twentieth at a time. A faithful map makes it fall fast.
fig = Figure(figsize=(5, 3.5))
ax = fig.add_subplot()
for name, method in [("Saliency", Saliency), ("Integrated Gradients", IntegratedGradients)]:
    attr = method(probabilities).attribute(x, target=target)
    curve = deletion_curve(probabilities, x, attr, target=target, baselines=0.0, n_steps=20)
    ax.plot(curve.fractions, curve.scores.mean(0), label=f"{name} (area {curve.auc.mean():.2f})")
ax.set_xlabel("fraction of pixels deleted")
ax.set_ylabel("mean score of the class")
ax.legend()
fig
