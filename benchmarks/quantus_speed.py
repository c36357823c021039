"""perspicio's metrics against Quantus 0.6 on resnet18, the same settings and the same draws.

python -m benchmarks.quantus_speed [--threads 2] [--images 8] [--repeats 3]

Both libraries score Saliency maps of ``--images`` random 224x224 images of torchvision's
resnet18 (random weights, eval mode) for its predicted classes, on the logits (Quantus'
``softmax=False``), with Quantus' own random draws handed to perspicio (each case checks
the two agree). Quantus runs its defaults for everything not named; perspicio its defaults
(``perturbations_per_eval="auto"``: as many perturbed copies per model call as its memory
budget allows). Times: the median of ``--repeats`` alternating runs after a warm-up of each.

ROAD: Quantus' ROAD takes single-channel images only, so both sides explain resnet18 behind
a grey-to-RGB layer; perspicio solves the imputation systems of a batch in
``torch.get_num_threads()`` threads (SuperLU releases the GIL), Quantus one after the
other. Faithfulness correlation and region perturbation are the model's forward passes on
both sides (the line "model calls alone" is that floor): no implementation of the same
settings can be many times faster on the same CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


class Grey(torch.nn.Module):
    """A grey image as the three channels of an RGB one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=50, help="faithfulness correlation runs")
    parser.add_argument(
        "--cases", default="fc,rp,road", help="comma-separated: fc, rp, road (default: all)"
    )
    parser.add_argument("--road-images", type=int, default=2, help="images for ROAD")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import quantus
    import torchvision

    from perspicio.core import Saliency
    from perspicio.core import metrics as M

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.rand(args.images, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    a = Saliency(model).attribute(x, target=y, abs=False).detach()
    xn, yn, an = x.numpy(), y.numpy(), a.numpy()
    n, k = args.images, 224

    def quantus_fc():
        metric = quantus.FaithfulnessCorrelation(
            nr_runs=args.runs,
            subset_size=k,
            perturb_baseline="black",
            normalise=False,
            disable_warnings=True,
            display_progressbar=False,
            return_aggregate=False,
        )
        np.random.seed(0)  # noqa: NPY002 (Quantus draws from numpy's global generator)
        return np.asarray(
            metric(model=model, x_batch=xn, y_batch=yn, a_batch=an, device="cpu", softmax=False)
        )

    drawn, choice = [], np.random.choice

    def recorded(*args, **kwargs):
        out = choice(*args, **kwargs)
        drawn.append(out)
        return out

    subsets = None
    if "fc" in args.cases:
        np.random.choice = recorded  # Quantus' own draws (it draws between runs too), recorded
        try:
            quantus_fc()
        finally:
            np.random.choice = choice
        subsets = torch.from_numpy(np.asarray(drawn)).reshape(args.runs, n, k).permute(1, 0, 2)

    def ours_fc():
        return M.faithfulness_correlation(
            model, x, a, y, n_runs=args.runs, subset_size=k, subsets=subsets
        ).numpy()

    def quantus_rp():
        metric = quantus.RegionPerturbation(
            patch_size=16,
            regions_evaluation=30,
            perturb_baseline="black",
            disable_warnings=True,
            display_progressbar=False,
        )
        return np.asarray(
            metric(model=model, x_batch=xn, y_batch=yn, a_batch=an, device="cpu", softmax=False)
        )

    def ours_rp():
        return M.region_perturbation(model, x, a, y, patch_size=16, regions=30).drops.numpy()

    # ROAD: Quantus' ROAD takes single-channel images only (its ranking indexes the
    # flattened channels), so both sides explain resnet18 behind a grey-to-RGB layer
    grey = torch.nn.Sequential(Grey(), model).eval()
    g = x[: args.road_images].mean(1, keepdim=True)
    with torch.no_grad():
        gy = grey(g).argmax(1)
    ga = Saliency(grey).attribute(g, target=gy, abs=False).detach()
    gn, gyn, gan = g.numpy(), gy.numpy(), ga.numpy()
    percentages = list(range(1, 100, 2))
    randn_drawn, randn = [], np.random.randn

    def quantus_road():
        metric = quantus.ROAD(disable_warnings=True, display_progressbar=False)
        result = metric(model=grey, x_batch=gn, y_batch=gyn, a_batch=gan, device="cpu")
        return np.asarray([result[p] for p in percentages])

    def recorded_randn(*shape):
        randn_drawn.append(randn(*shape))
        return randn_drawn[-1]

    np.random.randn = recorded_randn
    try:
        quantus_road()
    finally:
        np.random.randn = randn
    m, hw = g.shape[0], 224 * 224
    order = np.argsort(-gan.reshape(m, -1), axis=1)
    draws = np.zeros((m, len(percentages), 1, hw))
    for p_i, p in enumerate(percentages):
        for i in range(m):
            draws[i, p_i][:, order[i, : int(hw * p / 100)]] = randn_drawn[p_i * m + i]
    draws = torch.from_numpy(draws).reshape(m, len(percentages), 1, 224, 224)

    def ours_road():
        return M.road(grey, g, ga, gy, noise_draws=draws).accuracy.numpy()

    cases = {
        "fc": (f"faithfulness correlation ({args.runs} runs of {k} pixels)", ours_fc, quantus_fc),
        "rp": ("region perturbation (30 of 196 patches of 16 px)", ours_rp, quantus_rp),
        "road": (f"ROAD (50 fractions, {m} grey images)", ours_road, quantus_road),
    }
    cases = [cases[c] for c in args.cases.split(",")]
    print(
        f"resnet18, {n} images 224x224, {args.threads} threads, torch {torch.__version__}, "
        f"quantus {quantus.__version__}"
    )
    if "fc" in args.cases:  # the floor: the perturbed images through the model, nothing else
        rows = x.repeat(args.runs, 1, 1, 1).contiguous(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        with torch.no_grad():
            for start in range(0, rows.shape[0], n):
                model(rows[start : start + n])
        print(
            f"faithfulness correlation's {rows.shape[0]} model calls alone (batches of {n}, "
            f"channels-last): {time.perf_counter() - t0:.2f} s"
        )
    print(f"{'case':52} {'perspicio s':>11} {'Quantus s':>10} {'speed-up':>8} {'max diff':>9}")
    for name, ours, theirs in cases:
        diff = float(np.abs(np.asarray(ours()) - np.asarray(theirs())).max())  # warm-up, check
        times = {"ours": [], "theirs": []}
        for _ in range(args.repeats):
            for side, fn in (("ours", ours), ("theirs", theirs)):
                t0 = time.perf_counter()
                fn()
                times[side].append(time.perf_counter() - t0)
        o, t = statistics.median(times["ours"]), statistics.median(times["theirs"])
        print(f"{name:52} {o:>11.2f} {t:>10.2f} {t / o:>7.1f}x {diff:>9.1e}")


if __name__ == "__main__":
    main()
