"""Tabular case: KernelShap global importance over 10,000 breast-cancer-like rows."""

from __future__ import annotations

import torch

from perspicio import tabular

from .common import Case


def rows_like_breast_cancer(n: int = 10_000, seed: int = 0):
    """Rows drawn around the breast-cancer data (Gaussian noise of 10% of each column's spread)."""
    import pandas as pd

    from perspicio.tabular.demo import breast_cancer_mlp

    model, background, held_out = breast_cancer_mlp()
    X = pd.concat([background, held_out])  # all 569 patients
    base = torch.tensor(X.to_numpy(), dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, len(base), (n,), generator=g)
    rows = base[pick] + 0.1 * base.std(0) * torch.randn(n, base.shape[1], generator=g)
    return model, rows.abs(), list(X.columns)


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C

    model, rows, names = rows_like_breast_cancer()
    model = model.to(device)
    rows = rows.to(device)
    mean = rows.mean(0, keepdim=True)
    ks = C.KernelShap(model)
    sample = 200  # Captum's loop is timed on 200 rows and scaled to 10,000

    def captum_loop():
        for i in range(sample):
            ks.attribute(rows[i : i + 1], baselines=mean, target=1, n_samples=200)

    def ours(engine="local"):
        return tabular.global_importance(
            model,
            rows,
            background=rows,
            baseline="mean",  # the same reference row as Captum's
            feature_names=names,
            method="kernel_shap",
            target=1,
            seed=0,
            show_progress=False,
            engine=engine,
            concurrency=2,
        )

    out = [
        Case(
            "KernelShap global importance 10,000 rows x 30 features (200 samples; "
            "Captum: one call per row, timed on 200 rows x 50)",
            ours,
            captum_loop,
            None,
            None,
            theirs_scale=len(rows) / sample,
        )
    ]
    try:
        import ray
    except ImportError:
        return out
    if not ray.is_initialized():  # a local instance; a cluster: RAY_ADDRESS or ray.init(address=)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out.append(
        Case(
            "the same, Ray engine with 2 workers (1 thread each; actor start-up included)",
            lambda: ours("ray"),
            captum_loop,
            None,
            None,
            theirs_scale=len(rows) / sample,
        )
    )
    return out
