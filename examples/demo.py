"""Explain a small digit classifier with five perspicio methods and save one figure.

    python examples/demo.py --out out/demo.png

The model is a tiny CNN trained for a few seconds on scikit-learn's 8x8 digits (cached in
``.cache/``); nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from torch import nn

from perspicio.core import (
    DeepLift,
    GuidedBackprop,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "demo_digits_cnn.pt"


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(data.target)


def model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 16, 10),
    )  # fmt: skip


def trained_model(x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    net = model()
    if CACHE.exists():
        net.load_state_dict(torch.load(CACHE, weights_only=True))
        return net.eval()
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(15):
        for i in torch.randperm(1500).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[i]), y[i]).backward()
            opt.step()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), CACHE)
    return net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out/demo.png")
    args = parser.parse_args()
    torch.set_num_threads(2)
    x, y = digits()
    net = trained_model(x, y)
    test_x, test_y = x[1500:], y[1500:]
    accuracy = (net(test_x).argmax(1) == test_y).float().mean().item()
    print(f"held-out accuracy: {accuracy:.3f}")

    examples = test_x[:4]
    target = net(examples).argmax(1)
    methods = {
        "Saliency": Saliency(net).attribute(examples, target=target),
        "Integrated Gradients": IntegratedGradients(net).attribute(examples, target=target),
        "DeepLift": DeepLift(net).attribute(examples, target=target),
        "Guided Backprop": GuidedBackprop(net).attribute(examples, target=target),
        "SmoothGrad": NoiseTunnel(Saliency(net)).attribute(
            examples, target=target, nt_samples=20, stdevs=0.15, generator=0
        ),
    }
    fig = Figure(figsize=(2 * (len(methods) + 1), 8))
    axes = fig.subplots(len(examples), len(methods) + 1)
    for row in range(len(examples)):
        axes[row, 0].imshow(examples[row, 0], cmap="gray")
        axes[row, 0].set_title(f"predicted {int(target[row])}", fontsize=9)
        for col, (name, attr) in enumerate(methods.items(), start=1):
            a = attr[row, 0].detach()
            limit = float(a.abs().max()) or 1.0
            axes[row, col].imshow(a, cmap="RdBu_r", vmin=-limit, vmax=limit)
            axes[row, col].set_title(name, fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
