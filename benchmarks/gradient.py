"""Gradient-family cases: resnet18 at 224x224 and a 30-64-64-2 MLP on 256 rows."""

from __future__ import annotations

import torch
from torch import nn

from perspicio import core as P

from .common import NO_SETTINGS, Case, auto_rows, max_abs_diff


def resnet18(device):
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18().eval().to(device)


def mlp(device):
    torch.manual_seed(0)
    return (
        nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
        .eval()
        .to(device)
    )


def floor_forward_backward(model, inputs, target):
    """The bare cost: one forward and backward pass over the same batch."""

    def run():
        x = inputs.detach().requires_grad_(True)
        torch.autograd.grad(model(x)[:, target].sum(), x)

    return run


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C

    out = []
    net = resnet18(device)
    img = torch.rand(1, 3, 224, 224, device=device)
    for name in ("Saliency", "InputXGradient", "GuidedBackprop"):
        ours, theirs = getattr(P, name)(net), getattr(C, name)(net)
        out.append(
            Case(
                f"{name} resnet18 224",
                lambda o=ours: o.attribute(img, target=3),
                lambda t=theirs: t.attribute(img, target=3),
                floor_forward_backward(net, img, 3),
                max_abs_diff,
                settings=NO_SETTINGS,
            )
        )
    defaults = (
        'perspicio internal_batch_size="auto" (its default), Captum None (its '
        "default: every step in one batch)"
    )
    ig, cig = P.IntegratedGradients(net), C.IntegratedGradients(net)
    chunk = auto_rows(net, img)
    out.append(
        Case(
            "IntegratedGradients resnet18 224 n_steps=50",
            lambda ig=ig: ig.attribute(img, target=3, n_steps=50),
            lambda cig=cig: cig.attribute(img, target=3, n_steps=50),
            floor_forward_backward(net, img.repeat(50, 1, 1, 1), 3),
            max_abs_diff,
            theirs_best=lambda cig=cig: cig.attribute(
                img, target=3, n_steps=50, internal_batch_size=chunk
            ),
            settings=defaults,
            best=f"Captum internal_batch_size={chunk} (perspicio's automatic chunk here)",
        )
    )
    small = mlp(device)
    rows = torch.randn(256, 30, device=device)
    ig, cig = P.IntegratedGradients(small), C.IntegratedGradients(small)
    chunk_mlp = auto_rows(small, rows)
    out.append(
        Case(
            "IntegratedGradients MLP 256 rows n_steps=50",
            lambda ig=ig: ig.attribute(rows, target=1, n_steps=50),
            lambda cig=cig: cig.attribute(rows, target=1, n_steps=50),
            floor_forward_backward(small, rows.repeat(50, 1), 1),
            max_abs_diff,
            theirs_best=lambda cig=cig: cig.attribute(
                rows, target=1, n_steps=50, internal_batch_size=chunk_mlp
            ),
            settings=defaults,
            best=f"Captum internal_batch_size={chunk_mlp} (perspicio's automatic chunk here)",
        )
    )
    dl, cdl = P.DeepLift(small), C.DeepLift(small)
    out.append(
        Case(
            "DeepLift MLP 256 rows",
            lambda: dl.attribute(rows, target=1),
            lambda: cdl.attribute(rows, target=1),
            floor_forward_backward(small, rows.repeat(2, 1), 1),
            max_abs_diff,
            settings=NO_SETTINGS,
        )
    )
    return out
