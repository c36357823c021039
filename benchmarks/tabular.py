"""Tabular cases: KernelShap global importance over breast-cancer-like rows."""

from __future__ import annotations

import logging

import torch

from perspicio import tabular

from .common import Case, correlation


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


#: rows of the comparison with Captum (its KernelShap loops over the rows, one regression
#: each), and of perspicio's throughput lines
ROWS, THROUGHPUT_ROWS = 500, 10_000


def cases(device: torch.device) -> list[Case]:
    import captum.attr as C

    model, rows, names = rows_like_breast_cancer(THROUGHPUT_ROWS)
    model = model.to(device)
    rows = rows.to(device)
    few = rows[:ROWS]
    workers = torch.get_num_threads()  # Ray workers of one thread each: the same count
    ks = C.KernelShap(model)

    def ours(data, engine="local"):
        def call():
            return tabular.global_importance(
                model,
                data,
                background=data,
                baseline="mean",  # the same reference row as Captum's
                feature_names=names,
                method="kernel_shap",
                target=1,
                seed=0,
                show_progress=False,
                engine=engine,
                concurrency=workers,
            ).attributions

        return call

    mean = few.mean(0, keepdim=True)
    out = [
        Case(
            f"KernelShap global importance, {ROWS:,} rows x 30 features (200 samples each)",
            ours(few),
            lambda: ks.attribute(few, baselines=mean, target=1, n_samples=200),
            None,
            correlation,
            theirs_best=lambda: ks.attribute(
                few, baselines=mean, target=1, n_samples=200, perturbations_per_eval=200
            ),
            settings="both explain every row against the rows' mean (perspicio "
            'baseline="mean", Captum baselines=the mean row) with 200 coalitions; perspicio '
            "tabular.global_importance (local engine, shards of 512 rows, each one batched "
            "KernelShap), Captum one KernelShap call over the rows, which loops over them "
            "(one regression each), perturbations_per_eval=1 (its default)",
            best="Captum perturbations_per_eval=200 (all of a row's coalitions in one call)",
        ),
        Case(
            f"the same, local engine, {THROUGHPUT_ROWS:,} rows (perspicio only)",
            ours(rows),
            None,
            settings="perspicio's defaults (local engine, shards of 512 rows)",
        ),
    ]
    try:
        import ray
    except ImportError:
        return out
    if not ray.is_initialized():  # a local instance; a cluster: RAY_ADDRESS or ray.init(address=)
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset progress lines
    out.append(
        Case(
            f"the same, Ray engine, {workers} workers, {THROUGHPUT_ROWS:,} rows (perspicio only)",
            ours(rows, "ray"),
            None,
            settings=f"a local Ray instance, {workers} workers (the thread count) of one thread "
            "each; the actors' start-up "
            "is part of every call",
        )
    )
    return out
