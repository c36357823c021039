"""Perturbation-family cases: resnet18 at 224x224 and the 30-64-64-2 MLP."""

from __future__ import annotations

import torch

from perspicio import core as P

from .common import Case, correlation, max_abs_diff, perturbation_chunk
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


def incremental(method) -> str:
    """What perspicio's ``incremental="auto"`` chose in the last call of ``method``."""
    reason = method.incremental_reason
    chose = "the incremental evaluation" if reason is None else f"the batched one ({reason})"
    return f'perspicio incremental="auto" (its default) chose {chose}'


AUTO = 'perspicio perturbations_per_eval="auto" (its default)'


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C
    from captum._utils.models.linear_model import SkLearnLinearRegression

    net = resnet18(device)
    img = torch.rand(1, 3, 224, 224, device=device)
    mask = grid_mask(device=device)
    chunk = perturbation_chunk(net, img, 10**6)  # perspicio's batched chunk for one image
    per_call = f"Captum perturbations_per_eval={chunk} (perspicio's automatic chunk here)"
    defaults = f"{AUTO}, Captum perturbations_per_eval=1 (its default)"
    out = []
    n_windows = 28 * 28  # 3x15x15 window, stride 3x8x8, the last of a row cut by the border
    occ, cocc = P.Occlusion(net), C.Occlusion(net)
    window = dict(sliding_window_shapes=(3, 15, 15), strides=(3, 8, 8), target=3)
    out.append(
        Case(
            "Occlusion resnet18 224 (3x15x15, stride 8: 784 windows)",
            lambda: occ.attribute(img, **window),
            lambda: cocc.attribute(img, **window),
            model_floor(net, img.expand(n_windows, -1, -1, -1)),
            max_abs_diff,
            theirs_best=lambda: cocc.attribute(img, **window, perturbations_per_eval=chunk),
            settings=lambda: f"{defaults}; {incremental(occ)}",
            best=per_call,
        )
    )
    fa, cfa = P.FeatureAblation(net), C.FeatureAblation(net)
    out.append(
        Case(
            "FeatureAblation resnet18 224 (7x7 grid)",
            lambda: fa.attribute(img, target=3, feature_mask=mask),
            lambda: cfa.attribute(img, target=3, feature_mask=mask),
            model_floor(net, img.expand(49, -1, -1, -1)),
            max_abs_diff,
            theirs_best=lambda: cfa.attribute(
                img, target=3, feature_mask=mask, perturbations_per_eval=chunk
            ),
            settings=lambda: f"{defaults}; {incremental(fa)}",
            best=per_call,
        )
    )
    svs, csvs = P.ShapleyValueSampling(net), C.ShapleyValueSampling(net)
    out.append(
        Case(
            "ShapleyValueSampling resnet18 224 (7x7 grid, n_samples 4)",
            lambda: svs.attribute(img, target=3, feature_mask=mask, n_samples=4, generator=0),
            lambda: csvs.attribute(img, target=3, feature_mask=mask, n_samples=4),
            model_floor(net, img.expand(4 * 48 + 2, -1, -1, -1)),
            correlation,
            theirs_best=lambda: csvs.attribute(
                img, target=3, feature_mask=mask, n_samples=4, perturbations_per_eval=chunk
            ),
            settings=defaults,
            best=per_call,
        )
    )
    lime, clime = P.Lime(net), C.Lime(net)
    clime_ls = C.Lime(net, interpretable_model=SkLearnLinearRegression())
    out.append(
        Case(
            "Lime resnet18 224 (7x7 grid, 200 samples)",
            lambda: lime.attribute(img, target=3, feature_mask=mask, n_samples=200, generator=0),
            lambda: clime.attribute(img, target=3, feature_mask=mask, n_samples=200),
            model_floor(net, img.expand(200, -1, -1, -1)),
            correlation,
            theirs_best=lambda: clime_ls.attribute(
                img, target=3, feature_mask=mask, n_samples=200, perturbations_per_eval=chunk
            ),
            settings=f"{defaults}; surrogate: perspicio a weighted least-squares linear model (its "
            "default), Captum SkLearnLasso(alpha=0.01) (its default); both the cosine "
            "kernel of width 1 and Bernoulli(1/2) coalitions (both defaults)",
            best=f"{per_call} and interpretable_model=SkLearnLinearRegression() (the surrogate "
            "perspicio fits)",
        )
    )
    ks, cks = P.KernelShap(net), C.KernelShap(net)
    out.append(
        Case(
            "KernelShap resnet18 224 (7x7 grid, 200 samples)",
            lambda: ks.attribute(img, target=3, feature_mask=mask, n_samples=200, generator=0),
            lambda: cks.attribute(img, target=3, feature_mask=mask, n_samples=200),
            model_floor(net, img.expand(200, -1, -1, -1)),
            correlation,
            theirs_best=lambda: cks.attribute(
                img, target=3, feature_mask=mask, n_samples=200, perturbations_per_eval=chunk
            ),
            settings=(
                f"{defaults}; both a weighted linear regression (Captum's KernelShap fixes it)"
            ),
            best=per_call,
        )
    )

    small = mlp(device)
    rows = torch.randn(256, 30, device=device)
    per_row = perturbation_chunk(small, rows, 10**6)
    per_call = f"Captum perturbations_per_eval={per_row} (perspicio's automatic chunk here)"
    # new names: the image cases' lambdas above read fa, svs, ks... when they run
    mfa, cmfa = P.FeatureAblation(small), C.FeatureAblation(small)
    out.append(
        Case(
            "FeatureAblation MLP 256 rows",
            lambda: mfa.attribute(rows, target=1),
            lambda: cmfa.attribute(rows, target=1),
            None,
            max_abs_diff,
            theirs_best=lambda: cmfa.attribute(rows, target=1, perturbations_per_eval=per_row),
            settings=defaults,
            best=per_call,
        )
    )
    msvs, cmsvs = P.ShapleyValueSampling(small), C.ShapleyValueSampling(small)
    out.append(
        Case(
            "ShapleyValueSampling MLP 256 rows (n_samples 10)",
            lambda: msvs.attribute(rows, target=1, n_samples=10, generator=0),
            lambda: cmsvs.attribute(rows, target=1, n_samples=10),
            None,
            correlation,
            theirs_best=lambda: cmsvs.attribute(
                rows, target=1, n_samples=10, perturbations_per_eval=per_row
            ),
            settings=defaults,
            best=per_call,
        )
    )
    table = rows[:32]
    one = perturbation_chunk(small, table[:1], 200)
    mks, cmks = P.KernelShap(small), C.KernelShap(small)
    out.append(
        Case(
            "KernelShap MLP 32 rows (200 samples each)",
            lambda: mks.attribute(table, target=1, n_samples=200, generator=0),
            lambda: cmks.attribute(table, target=1, n_samples=200),
            None,
            correlation,
            theirs_best=lambda: cmks.attribute(
                table, target=1, n_samples=200, perturbations_per_eval=one
            ),
            settings=f"{defaults}; perspicio solves the 32 rows' regressions in one batch, Captum "
            "loops over the rows inside its call (one regression each)",
            best=f"Captum perturbations_per_eval={one} (all samples of a row in one call)",
        )
    )
    return out
