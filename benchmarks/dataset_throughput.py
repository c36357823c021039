"""Rows per second of KernelShap global importance, local engine against Ray engine.

python -m benchmarks.dataset_throughput [--rows 100000] [--workers 2] [--batch-size 2000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from perspicio import tabular

from .tabular import rows_like_breast_cancer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    import ray

    model, rows, names = rows_like_breast_cancer(args.rows)
    if not ray.is_initialized():
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    for engine in ("local", "ray", "local", "ray"):  # the second of each is reported
        start = time.perf_counter()
        tabular.global_importance(
            model,
            rows,
            background=rows,
            baseline="mean",
            feature_names=names,
            method="kernel_shap",
            target=1,
            seed=0,
            batch_size=args.batch_size,
            engine=engine,
            concurrency=args.workers,
            show_progress=False,
        )
        seconds = time.perf_counter() - start
        print(f"{engine}: {seconds:.2f} s, {args.rows / seconds:,.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
