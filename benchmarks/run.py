"""Run the benchmark cases with perspicio and the other library and print a table.

python -m benchmarks.run [--device cuda] [--repeats 3] [--threads 2] [--suite NAME[,NAME]]
                         [--only TEXT] [--markdown] [--write docs/benchmarks.md]

Each case is timed in one process, its functions alternately (perspicio's, the other
library's with its defaults, and where settings exist the other library's with its best
settings), after one warm-up run of each whose results are compared. ``--write`` renders
docs/benchmarks.md (benchmarks/report.py holds the page's prose).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
import warnings

NAN = float("nan")

#: suite name -> module, in the order of the page
SUITE_MODULES = [
    "gradient",
    "perturbation",
    "layer",
    "metrics",
    "vision",
    "text",
    "tabular",
    "trees",
    "generation",
    "vlm",
    "incremental",
    "cam",
    "robust",
    "concept",
    "influence",
]


def limit_threads(n: int) -> None:
    """The same thread count for every library: torch's intra-op pool, and (through the
    environment, for libraries loaded later, and threadpoolctl, for those loaded already)
    the BLAS and OpenMP pools of numpy, scikit-learn and LightGBM, numba's and OpenCV's."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # pytorch-grad-cam's progress bars
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    reapply_limits(n)


def reapply_limits(n: int) -> None:
    """Apply the limit to the pools loaded since (a suite's imports load new libraries)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    except ImportError:
        pass
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(n)
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(n)


def thread_pools() -> list[str]:
    """The thread pools loaded in this process and their sizes, as threadpoolctl sees them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    pools = []
    for info in threadpool_info():
        lib = os.path.basename(info.get("filepath", "")) or info.get("prefix", "?")
        pools.append(f"{info.get('internal_api', '?')} ({lib}): {info.get('num_threads')}")
    if "cv2" in sys.modules:
        pools.append(f"OpenCV: {sys.modules['cv2'].getNumThreads()}")
    if "numba" in sys.modules:
        pools.append(f"numba: {sys.modules['numba'].get_num_threads()}")
    return sorted(set(pools))


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def check_kind(check) -> str:
    return "corr" if check is not None and "corr" in getattr(check, "__name__", "") else "diff"


def run_case(suite: str, case, device, repeats: int):
    """Time one case's functions alternately; check their warm-up results."""
    from .common import Result, timeit, timeit_alternately

    start, cpu = time.perf_counter(), time.process_time()
    fns = [case.ours]
    if case.theirs is not None:
        fns.append(case.theirs)
    if case.theirs_best is not None:
        if case.ours_best is not None:
            fns.append(case.ours_best)
        fns.append(case.theirs_best)
    times, results = timeit_alternately(fns, device, repeats)
    ours = times[0]
    theirs = times[1] if case.theirs is not None else NAN
    ours_best = theirs_best = diff = diff_best = NAN
    if case.theirs_best is not None:
        theirs_best = times[-1]
        ours_best = times[-2] if case.ours_best is not None else ours
    floor = timeit(case.floor, device, repeats) if case.floor else NAN
    # a settings line may depend on what the warm-up run chose (``incremental_reason``)
    settings = case.settings() if callable(case.settings) else case.settings
    if case.check is not None:
        if case.theirs is not None:
            diff = case.check(results[0], results[1])
        if case.theirs_best is not None:
            base = results[-2] if case.ours_best is not None else results[0]
            diff_best = case.check(base, results[-1])
    return Result(
        suite,
        case.name,
        ours,
        theirs,
        ours_best,
        theirs_best,
        floor,
        diff,
        diff_best,
        settings,
        case.best,
        time.perf_counter() - start,
        check_kind(case.check),
        time.process_time() - cpu,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads of every library (torch, BLAS, OpenMP, OpenCV, numba)",
    )
    parser.add_argument("--only", default=None, help="run the cases whose name contains this")
    parser.add_argument(
        "--suite", default=None, help=f"comma-separated suites ({', '.join(SUITE_MODULES)})"
    )
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument(
        "--write",
        default=None,
        metavar="PATH",
        help="write the benchmark page (docs/benchmarks.md) to PATH",
    )
    parser.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="save the results (python -m benchmarks.report --from PATH renders the page again)",
    )
    args = parser.parse_args(argv)
    suites = SUITE_MODULES if not args.suite else args.suite.split(",")
    unknown = sorted(set(suites) - set(SUITE_MODULES))
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {SUITE_MODULES}")
    command = "python -m benchmarks.run " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    limit_threads(args.threads)  # before torch, numpy and the libraries load their pools

    import importlib

    import torch

    from . import report

    warnings.filterwarnings("ignore")
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(f"# {command}", flush=True)
    print(
        f"# device: {device} ({name}, {os.cpu_count()} cores); torch {torch.__version__}; "
        f"threads {args.threads}",
        flush=True,
    )
    started = time.time()
    results, failures = [], []
    for key in SUITE_MODULES:
        if key not in suites:
            continue
        module = importlib.import_module(f".{key}", __package__)
        suite_start = time.perf_counter()
        try:
            cases = module.cases(device)
        except Exception:  # a suite whose setup fails is reported, the others still run
            traceback.print_exc()
            failures.append(f"{key}: setup")
            continue
        reapply_limits(args.threads)
        for case in cases:
            if args.only and args.only not in case.name:
                continue
            reapply_limits(args.threads)
            try:
                result = run_case(key, case, device, args.repeats)
            except Exception:
                traceback.print_exc()
                failures.append(f"{key}: {case.name}")
                continue
            results.append(result)
            fmt_ms, fmt_ratio, fmt_check = report.fmt_ms, report.fmt_ratio, report.fmt_check
            print(
                " | ".join(
                    (
                        key,
                        result.name,
                        fmt_ms(result.ours),
                        fmt_ms(result.theirs),
                        fmt_ratio(result.ratio),
                        fmt_ms(result.ours_best),
                        fmt_ms(result.theirs_best),
                        fmt_ratio(result.ratio_best),
                        fmt_ms(result.floor),
                        fmt_check(result.diff, result.kind),
                        fmt_check(result.diff_best, result.kind),
                        f"{result.seconds:.0f} s ({result.cpu_seconds:.0f} s CPU)",
                    )
                ),
                flush=True,
            )
        print(f"# suite {key}: {time.perf_counter() - suite_start:.0f} s", flush=True)
    elapsed = time.time() - started
    print(f"# total {elapsed / 60:.1f} min", flush=True)
    for failure in failures:
        print(f"# FAILED {failure}", file=sys.stderr, flush=True)

    meta = report.Meta(
        command=command,
        started=started,
        minutes=elapsed / 60,
        device=str(device),
        device_name=name,
        cores=os.cpu_count() or 0,
        threads=args.threads,
        repeats=args.repeats,
        pools=thread_pools(),
        versions=report.versions(),
    )
    if args.markdown:
        print()
        print(report.tables(results))
    if args.json:
        report.save(args.json, results, meta)
    if args.write:
        with open(args.write, "w") as f:
            f.write(report.render(results, meta, partial=bool(args.suite or args.only)))
        print(f"# wrote {args.write}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
