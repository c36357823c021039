"""Timing helpers shared by the benchmark cases."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Case:
    """One workload, run by both libraries (and optionally the bare model as a floor)."""

    name: str
    ours: Callable[[], object]
    theirs: Callable[[], object] | None
    floor: Callable[[], object] | None = None
    check: Callable[[object, object], float] | None = None
    #: Captum's time is measured on part of the work and multiplied by this (long loops)
    theirs_scale: float = 1.0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median wall time in milliseconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def timeit_pair(
    first: Callable[[], object], second: Callable[[], object], device: torch.device, repeats: int
) -> tuple[float, float]:
    """Median times of two functions measured alternately, so drift affects both alike."""
    first(), second()
    sync(device)
    a, b = [], []
    for _ in range(repeats):
        for fn, acc in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            sync(device)
            acc.append((time.perf_counter() - start) * 1e3)
    return statistics.median(a), statistics.median(b)


def max_abs_diff(a, b) -> float:
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def correlation(a, b) -> float:
    """Pearson correlation of two sampled attributions (their draws differ)."""
    a = torch.cat([t.flatten() for t in (a if isinstance(a, tuple) else (a,))])
    b = torch.cat([t.flatten() for t in (b if isinstance(b, tuple) else (b,))])
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])
