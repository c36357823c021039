"""The numbers behind the ground-truth thresholds of the demo detector's, segmenter's and
vision-language model's tests: train each at several seeds and CPU instruction sets and
print the localisation scores those tests compute (``tests/vision/ground_truth.py``, beside
the 95th percentile of random maps scored the same way; ``tests/text/ground_truth_vlm.py``
for ``--models vlm``).

Each run trains in a subprocess with ``ATEN_CPU_CAPABILITY`` set (torch reads it at import)
and one thread, into its own scratch ``PERSPICIO_CACHE`` (``/tmp/isa-<isa>-seed<seed>``);
the training code and every other setting are the demo's own, only the training seed (the
initial weights and the batch order) changes. Runs go one after another::

    python -m benchmarks.ground_truth_seeds                  # default, avx2, avx512 x seeds 0 1 2
    python -m benchmarks.ground_truth_seeds --isa avx2 --seeds 1   # one run

Seed 0 is the seed of the cached demo models the tests load. ``default`` is torch's plain
(unvectorised) kernels; ``avx512`` is what torch picks on its own on a CPU that has it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _train(producer, seed: int, file: Path):
    """The producer's result with its training seed set to ``seed``, cached in ``file``."""
    import torch

    from perspicio._cache import deterministic

    if file.exists():
        return torch.load(file, weights_only=True), 0.0
    start = time.perf_counter()
    with deterministic():
        state = producer.__wrapped__(**{**producer.settings, "seed": seed})
    seconds = time.perf_counter() - start
    torch.save(state, file)
    return state, seconds


def one_run(seed: int, models: list[str]) -> dict:
    """Train (or load) the models at ``seed`` under this process's instruction set and
    score them as their tests do."""
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT))
    from perspicio._cache import cache_dir
    from perspicio.vision import demo
    from tests.vision import ground_truth

    out: dict = {"isa": torch.backends.cpu.get_cpu_capability(), "seed": seed}
    if "detector" in models:
        state, seconds = _train(
            demo._trained_shapes_detector, seed, cache_dir() / f"detector-seed{seed}.pt"
        )
        net = demo.ShapesDetector()
        net.load_state_dict(state)
        out["detector_train_s"] = round(seconds, 1)
        out["detector"] = ground_truth.detector_scores(net.eval()).summary()
    if "segmenter" in models:
        state, seconds = _train(
            demo._trained_shapes_segmenter, seed, cache_dir() / f"segmenter-seed{seed}.pt"
        )
        net = demo.ShapesSegmenter()
        net.load_state_dict(state)
        out["segmenter_train_s"] = round(seconds, 1)
        out["segmenter"] = ground_truth.segmenter_scores(net.eval()).summary()
    if "vlm" in models:
        from perspicio.text import demo_vlm
        from tests.text import ground_truth_vlm

        state, seconds = _train(demo_vlm._trained_vlm, seed, cache_dir() / f"vlm-seed{seed}.pt")
        proc = demo_vlm.processor()
        net = demo_vlm._build(proc)
        net.load_state_dict(state)
        out["vlm_train_s"] = round(seconds, 1)
        out["vlm"] = ground_truth_vlm.vlm_scores(net.eval(), proc).summary()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--isa", nargs="+", default=["default", "avx2", "avx512"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["detector", "segmenter"])
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.seeds[0], args.models)), flush=True)
        return
    for isa in args.isa:
        for seed in args.seeds:
            env = {
                **os.environ,
                "ATEN_CPU_CAPABILITY": isa,
                "OMP_NUM_THREADS": "1",
                "PERSPICIO_CACHE": f"/tmp/isa-{isa}-seed{seed}",
            }
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.ground_truth_seeds",
                "--one",
                "--seeds",
                str(seed),
                "--models",
                *args.models,
            ]
            subprocess.run(cmd, env=env, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
