"""Score four attribution methods on the digits demo CNN with perspicio's metrics.

python examples/evaluate_methods.py
"""

from __future__ import annotations

import torch
from demo import digits, trained_model
from torch import nn

from perspicio.core.metrics import compare_methods


def main() -> None:
    torch.set_num_threads(2)
    x, y = digits()
    net = trained_model(x, y)
    probabilities = nn.Sequential(net, nn.Softmax(dim=1)).eval()  # scores in [0, 1]
    test = x[1500:1532]
    target = net(test).argmax(1).tolist()  # explain each digit's predicted class
    table = compare_methods(
        probabilities,
        test,
        ["saliency", "integrated_gradients", "feature_ablation", "deeplift"],
        target=target,
        generator=0,
    )
    print(table.round(4).to_string())
    print("higher is better:", table.attrs["higher_is_better"])


if __name__ == "__main__":
    main()
