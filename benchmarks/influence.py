"""TracIn against Captum's: the self-influence of the training images of a small CNN at 3
checkpoints, then the 10 most influential training images of 100 test images; the same
model, data, checkpoints, loss and batch size (256) in both.

TracInCP runs on 1,000 training images: Captum's default path (one backward pass per
example and checkpoint) takes about a minute on 10,000 on a 2-core CPU, too long to repeat.
Its best column is Captum's per-batch path (``sample_wise_grads_per_batch=True``, which needs
a summed loss). TracInCPFast runs on 10,000; its best column is Captum's ``vectorize=True``.
"""

from __future__ import annotations

import os
import tempfile

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .common import Case, max_abs_diff

N_TRAIN, N_TEST, BATCH = 10_000, 100, 256
#: training images of the TracInCP case
N_TRAIN_CP = 1_000


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 10),
    )


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
    small = DataLoader(TensorDataset(x[:N_TRAIN_CP], y[:N_TRAIN_CP]), batch_size=BATCH)
    return model, DataLoader(TensorDataset(x, y), batch_size=BATCH), test, small


def cases(device: torch.device) -> list[Case]:
    from captum import influence as C

    from perspicio.core import influence as P

    folder = tempfile.mkdtemp()
    model, train, test, small = setup(folder)
    none = nn.CrossEntropyLoss(reduction="none")
    total = nn.CrossEntropyLoss(reduction="sum")

    def tracin(lib, data, loss, **kwargs):
        def call():
            method = lib.TracInCP(model, data, folder, loss_fn=loss, batch_size=BATCH, **kwargs)
            return method.self_influence(), method.influence(test, k=10).indices

        return call

    def fast(lib, data, **kwargs):
        def call():
            method = lib.TracInCPFast(
                model, model[-1], data, folder, loss_fn=total, batch_size=BATCH, **kwargs
            )
            return method.self_influence(), method.influence(test, k=10).indices

        return call

    def check(a, b):  # relative difference of the self-influences
        return max_abs_diff(a[0], b[0]) / float(b[0].abs().max())

    per_batch = {"sample_wise_grads_per_batch": True}
    return [
        Case(
            f"TracInCP self-influence {N_TRAIN_CP:,} + top-10 of {N_TEST} tests, CNN, "
            "3 checkpoints",
            tracin(P, small, none),
            tracin(C, small, none),
            check=check,
            ours_best=tracin(P, small, total, **per_batch),
            theirs_best=tracin(C, small, total, **per_batch),
            settings='both loss_fn=CrossEntropyLoss(reduction="none") and '
            "sample_wise_grads_per_batch=False (the default; Captum's default path "
            "needs the unreduced loss): Captum runs one backward pass per example "
            "and checkpoint, perspicio per-example gradients of each batch (vmap)",
            best='both loss_fn=CrossEntropyLoss(reduction="sum") and '
            "sample_wise_grads_per_batch=True (Captum's per-batch path; perspicio takes "
            "the flag and computes as before)",
        ),
        Case(
            f"TracInCPFast self-influence {N_TRAIN:,} + top-10 of {N_TEST} tests, 3 checkpoints",
            fast(P, train),
            fast(C, train),
            check=check,
            theirs_best=fast(C, train, vectorize=True),
            settings='both loss_fn=CrossEntropyLoss(reduction="sum"), vectorize=False '
            "(the default)",
            best="Captum vectorize=True (its vectorized jacobian of the loss)",
        ),
    ]
