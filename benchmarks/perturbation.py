"""Perturbation-family cases: resnet18 at 224x224 and the 30-64-64-2 MLP."""

from __future__ import annotations

import torch

from perspicio import core as P

from .common import Case, correlation, max_abs_diff
from .gradient import mlp, resnet18


def grid_mask(size: int = 224, cells: int = 7, device="cpu") -> torch.Tensor:
    """A ``cells x cells`` grid of feature groups shared by the three colour channels."""
    side = torch.arange(size, device=device) * cells // size
    return (side.view(-1, 1) * cells + side.view(1, -1)).view(1, 1, size, size)


def model_floor(model, batch: torch.Tensor, chunk: int | None = None):
    """The bare model evaluations a method needs: ``batch`` rows, ``chunk`` at a time (8 on a
    CPU, where small batches stay in cache; 256 on a GPU), in the fastest layout
    (channels-last), with no perturbation built."""
    if chunk is None:
        chunk = 8 if batch.device.type == "cpu" else 256
    batch = batch.contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def run():
        for part in batch.split(chunk):
            model(part)

    return run


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C

    net = resnet18(device)
    img = torch.rand(1, 3, 224, 224, device=device)
    mask = grid_mask(device=device)
    out = []
    n_windows = 27 * 27  # 3x15x15 window, stride 3x8x8, borders covered
    occ, cocc = P.Occlusion(net), C.Occlusion(net)
    out.append(Case(
        "Occlusion resnet18 224 (3x15x15, stride 8)",
        lambda: occ.attribute(img, (3, 15, 15), strides=(3, 8, 8), target=3),
        lambda: cocc.attribute(img, (3, 15, 15), strides=(3, 8, 8), target=3),
        model_floor(net, img.expand(n_windows, -1, -1, -1)),
        max_abs_diff,
    ))  # fmt: skip
    fa, cfa = P.FeatureAblation(net), C.FeatureAblation(net)
    out.append(Case(
        "FeatureAblation resnet18 224 (7x7 grid)",
        lambda fa=fa: fa.attribute(img, target=3, feature_mask=mask),
        lambda cfa=cfa: cfa.attribute(img, target=3, feature_mask=mask),
        model_floor(net, img.expand(49, -1, -1, -1)),
        max_abs_diff,
    ))  # fmt: skip
    svs, csvs = P.ShapleyValueSampling(net), C.ShapleyValueSampling(net)
    out.append(Case(
        "ShapleyValueSampling resnet18 224 (7x7 grid, n_samples 4)",
        lambda svs=svs: svs.attribute(img, target=3, feature_mask=mask, n_samples=4, generator=0),
        lambda csvs=csvs: csvs.attribute(img, target=3, feature_mask=mask, n_samples=4),
        model_floor(net, img.expand(4 * 48 + 2, -1, -1, -1)),
        correlation,
    ))  # fmt: skip
    for name, ours, theirs in (
        ("Lime", P.Lime(net), C.Lime(net)),
        ("KernelShap", P.KernelShap(net), C.KernelShap(net)),
    ):
        out.append(Case(
            f"{name} resnet18 224 (7x7 grid, 200 samples)",
            lambda o=ours: o.attribute(img, target=3, feature_mask=mask, n_samples=200,
                                       generator=0),
            lambda t=theirs: t.attribute(img, target=3, feature_mask=mask, n_samples=200),
            model_floor(net, img.expand(200, -1, -1, -1)),
            correlation,
        ))  # fmt: skip

    small = mlp(device)
    rows = torch.randn(256, 30, device=device)
    fa, cfa = P.FeatureAblation(small), C.FeatureAblation(small)
    out.append(Case(
        "FeatureAblation MLP 256 rows",
        lambda: fa.attribute(rows, target=1),
        lambda: cfa.attribute(rows, target=1),
        None,
        max_abs_diff,
    ))  # fmt: skip
    svs, csvs = P.ShapleyValueSampling(small), C.ShapleyValueSampling(small)
    out.append(Case(
        "ShapleyValueSampling MLP 256 rows (n_samples 10)",
        lambda: svs.attribute(rows, target=1, n_samples=10, generator=0),
        lambda: csvs.attribute(rows, target=1, n_samples=10),
        None,
        correlation,
    ))  # fmt: skip
    table = rows[:32]
    ks, cks = P.KernelShap(small), C.KernelShap(small)
    out.append(Case(
        "KernelShap MLP 32 rows (200 samples; Captum: a loop over rows)",
        lambda: ks.attribute(table, target=1, n_samples=200, generator=0),
        lambda: torch.cat(
            [cks.attribute(table[i : i + 1], target=1, n_samples=200) for i in range(32)]
        ),
        None,
        correlation,
    ))  # fmt: skip
    return out
