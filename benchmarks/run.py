"""Run every benchmark case with perspicio and Captum and print a table.

python -m benchmarks.run [--device cuda] [--repeats 5] [--only NAME] [--markdown]
"""

from __future__ import annotations

import argparse
import platform
import warnings

import torch

from . import (
    cam,
    concept,
    generation,
    gradient,
    incremental,
    influence,
    layer,
    metrics,
    perturbation,
    robust,
    tabular,
    text,
    trees,
    vision,
)
from .common import timeit, timeit_pair

SUITES = {
    "gradient": gradient.cases,
    "perturbation": perturbation.cases,
    "layer": layer.cases,
    "metrics": metrics.cases,
    "vision": vision.cases,
    "text": text.cases,
    "tabular": tabular.cases,
    "generation": generation.cases,
    "incremental": incremental.cases,
    "cam": cam.cases,
    "robust": robust.cases,
    "concept": concept.cases,
    "influence": influence.cases,
    "trees": trees.cases,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=None, help="run the cases whose name contains this")
    parser.add_argument("--suite", default=None, choices=sorted(SUITES), help="run one suite")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"# device: {device} ({name}); torch {torch.__version__}; threads {args.threads}")
    header = ("case", "perspicio ms", "captum ms", "ratio", "floor ms", "max |diff| or corr")
    rows = []
    for key, suite in SUITES.items():
        if args.suite and key != args.suite:
            continue
        for case in suite(device):
            if args.only and args.only not in case.name:
                continue
            if case.theirs:
                ours, theirs = timeit_pair(case.ours, case.theirs, device, args.repeats)
                theirs *= case.theirs_scale
            else:
                ours, theirs = timeit(case.ours, device, args.repeats), float("nan")
            floor = timeit(case.floor, device, args.repeats) if case.floor else float("nan")
            diff = float("nan")
            if case.check and case.theirs:
                diff = case.check(case.ours(), case.theirs())
            rows.append((case.name, f"{ours:.1f}", f"{theirs:.1f}", f"{theirs / ours:.2f}x",
                         f"{floor:.1f}", f"{diff:.2g}"))  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    if args.markdown:
        print()
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
