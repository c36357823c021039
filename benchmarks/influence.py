"""TracIn against Captum's: self-influence of 10,000 training images of a small CNN at 3
checkpoints, and the 10 most influential training images of 100 test images; the same
model, data, checkpoints, loss and batch size (Captum's defaults otherwise).

Captum's TracInCP takes about 2 ms per example and checkpoint (a backward pass each), so
its time is measured on the first 1,000 training images and multiplied by 10 (its work is
linear in the training rows; the 100 test images' gradients are a part it computes once,
so the scaling slightly overstates it: the row says so)."""

from __future__ import annotations

import os
import tempfile

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .common import Case, max_abs_diff

N_TRAIN, N_TEST, BATCH = 10_000, 100, 256


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 10),
    )  # fmt: skip


SCALE = 10


def setup(folder: str):
    torch.manual_seed(0)
    x = torch.randn(N_TRAIN, 1, 28, 28)
    y = torch.randint(0, 10, (N_TRAIN,))
    model = small_cnn()
    for epoch in range(3):  # three "checkpoints": perturbed copies of the weights
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        torch.save(model.state_dict(), os.path.join(folder, f"epoch-{epoch}.pt"))
    test = (torch.randn(N_TEST, 1, 28, 28), torch.randint(0, 10, (N_TEST,)))
    small = DataLoader(TensorDataset(x[: N_TRAIN // SCALE], y[: N_TRAIN // SCALE]),
                       batch_size=BATCH)  # fmt: skip
    return model, DataLoader(TensorDataset(x, y), batch_size=BATCH), test, small


def cases(device: torch.device) -> list[Case]:
    from captum import influence as C

    from perspicio.core import influence as P

    folder = tempfile.mkdtemp()
    model, train, test, small = setup(folder)
    none = nn.CrossEntropyLoss(reduction="none")
    total = nn.CrossEntropyLoss(reduction="sum")

    def tracin(lib, data, **kwargs):
        def call():
            method = lib.TracInCP(model, data, folder, loss_fn=none, batch_size=BATCH, **kwargs)
            return method.self_influence(), method.influence(test, k=10).indices

        return call

    def fast(lib, data):
        def call():
            method = lib.TracInCPFast(model, model[-1], data, folder, loss_fn=total,
                                      batch_size=BATCH)  # fmt: skip
            return method.self_influence(), method.influence(test, k=10).indices

        return call

    def check(a, b):  # relative difference of the self-influence on the rows both ran
        n = len(b[0])
        return max_abs_diff(a[0][:n], b[0]) / float(b[0].abs().max())

    return [
        Case("TracInCP self-influence 10k + top-10 of 100 tests, CNN, 3 checkpoints"
             " (Captum: 1k rows x 10)", tracin(P, train), tracin(C, small), check=check,
             theirs_scale=SCALE),
        Case("TracInCPFast self-influence 10k + top-10 of 100 tests, 3 checkpoints",
             fast(P, train), fast(C, train), check=check),
    ]  # fmt: skip
