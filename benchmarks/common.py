"""Timing helpers shared by the benchmark cases."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Case:
    """One workload, run by both libraries (and optionally the bare model as a floor).

    Two comparisons where the other library has settings that change its speed:

    - *defaults*: ``ours`` against ``theirs``, each library as a user gets it (its
      default batching, surrogate, code path); whatever both are given alike (model, data,
      ``n_samples``, ``batch_size`` of a data loader) is part of the workload.
    - *best*: ``ours_best`` (``ours`` unless perspicio's default is not its best) against
      ``theirs_best``, the other library given the settings that make it fastest on this
      work (the same ``perturbations_per_eval`` / ``internal_batch_size`` / surrogate /
      fast path as perspicio, or what its documentation recommends).

    ``settings`` says what both sides ran with by default, ``best`` what the best column
    changes; the report prints both under the table. Model reading and explainer building
    happen either inside both timed functions or outside both.
    """

    name: str
    ours: Callable[[], object]
    theirs: Callable[[], object] | None
    floor: Callable[[], object] | None = None
    check: Callable[[object, object], float] | None = None
    theirs_best: Callable[[], object] | None = None
    ours_best: Callable[[], object] | None = None
    settings: str | Callable[[], str] = ""
    best: str = ""


#: the settings line of a case whose libraries have nothing to set
NO_SETTINGS = "the same call in both; neither library has a setting that changes its speed"


@dataclass
class Result:
    """One case's measurements (milliseconds; ``nan`` where not measured)."""

    suite: str
    name: str
    ours: float
    theirs: float
    ours_best: float
    theirs_best: float
    floor: float
    diff: float
    diff_best: float
    settings: str
    best: str
    seconds: float  # wall time of the whole case, warm-up and checks included
    kind: str = "diff"  # what ``diff`` holds: "diff" (largest |difference|) or "corr"
    cpu_seconds: float = float("nan")  # CPU time of the case, all threads

    @property
    def ratio(self) -> float:
        return self.theirs / self.ours

    @property
    def ratio_best(self) -> float:
        return self.theirs_best / self.ours_best


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


def timeit_alternately(
    fns: list[Callable[[], object]], device: torch.device, repeats: int
) -> tuple[list[float], list[object]]:
    """Median times (ms) of several functions measured alternately, so drift affects all
    alike, and the results of their warm-up runs (for the checks)."""
    results = [fn() for fn in fns]
    sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, acc in zip(fns, times):
            start = time.perf_counter()
            fn()
            sync(device)
            acc.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(t) for t in times], results


def max_abs_diff(a, b) -> float:
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def correlation(a, b) -> float:
    """Pearson correlation of two sampled attributions (their draws differ)."""
    a = torch.cat([t.flatten().cpu() for t in (a if isinstance(a, tuple) else (a,))])
    b = torch.cat([t.flatten().cpu() for t in (b if isinstance(b, tuple) else (b,))])
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])


def perturbation_chunk(model, inputs: torch.Tensor, n_perturbations: int) -> int:
    """Perturbations per model call that perspicio's ``perturbations_per_eval="auto"``
    picks for its batched evaluation of ``inputs`` (what the best column gives Captum)."""
    from perspicio.core._engine.perturbation import resolve_chunk

    return resolve_chunk("auto", model, (inputs,), (), n_perturbations)


def auto_rows(model, inputs: torch.Tensor, args: tuple = ()) -> int:
    """Rows per model call of perspicio's ``internal_batch_size="auto"`` for ``inputs``."""
    from perspicio.core._engine.batching import auto_rows as rows

    return rows(model, (inputs,), args)
