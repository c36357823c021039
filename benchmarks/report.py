"""docs/benchmarks.md: the page ``python -m benchmarks.run --write docs/benchmarks.md`` writes.

The prose lives here, the numbers come from the run: nothing on the page is typed by hand
after a run. The prose states what each suite measures and where time goes in each
library's code, never a figure that the run does not print.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
from dataclasses import asdict, dataclass, field

#: the command that writes the page, as the page and README quote it
COMMAND = "python -m benchmarks.run --repeats 3 --write docs/benchmarks.md"


@dataclass
class Meta:
    command: str
    started: float
    minutes: float
    device: str
    device_name: str
    cores: int
    threads: int
    repeats: int
    pools: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


def versions() -> dict[str, str]:
    out = {}
    for dist in (
        "perspicio",
        "torch",
        "torchvision",
        "captum",
        "shap",
        "grad-cam",
        "lightgbm",
        "scikit-learn",
        "transformers",
        "ray",
        "numpy",
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class Section:
    title: str
    other: str  # the column name of the other side
    intro: str
    notes: str = ""


SECTIONS: dict[str, Section] = {
    "gradient": Section(
        "Gradient methods",
        "Captum",
        "torchvision's resnet18 (random weights, eval mode) on one 224x224 image, target 3, and "
        "a 30-64-64-2 MLP on 256 rows. Floor: one forward and backward pass over the same "
        "rows with nothing around it (for IntegratedGradients, all 50 steps' rows in one "
        "batch).",
        "Single-pass methods do the same model work in both libraries, so the model's own "
        'cost bounds their ratio. IntegratedGradients\' `internal_batch_size="auto"` '
        "evaluates the steps in chunks sized for the CPU caches (half the free memory on a "
        "GPU); the best column gives Captum the same chunk.",
    ),
    "perturbation": Section(
        "Perturbation methods",
        "Captum",
        "The same resnet18 (one image, target 3) and MLP. FeatureAblation, "
        "ShapleyValueSampling, Lime and KernelShap perturb a 7x7 grid of feature groups "
        "shared by the colour channels. Floor: the bare model on as many images as the "
        "method evaluates, in chunks of 8 (256 on a GPU), channels-last, with no "
        "perturbation built.",
        "perspicio builds a chunk's perturbations as one tensor and evaluates it in one model "
        "call; Captum's default evaluates one perturbation per call, and its "
        "`perturbations_per_eval` batches them too (the best column). Beyond the chunk size, "
        "perspicio hands images to the model channels-last, and Occlusion and "
        "FeatureAblation evaluate a CNN incrementally (each layer recomputes only the region "
        "a window changed) where that is estimated to save at least 1.5x of the "
        "multiply-adds: Captum has "
        "no setting for either, so the best column keeps both. The sampling methods draw "
        "differently in the two libraries; their check is the correlation of the two "
        "estimates (r). Captum's default Lime surrogate, a Lasso with alpha 0.01, can zero "
        "every coefficient; the correlation is then undefined and its cell empty.",
    ),
    "layer": Section(
        "Layer and neuron methods",
        "Captum",
        "LayerConductance and NeuronConductance at the MLP's second hidden layer (64 rows), "
        "LayerGradCam at resnet18's layer4, and LayerIntegratedGradients on a small "
        "transformer text classifier (vocabulary 1000, width 64, two encoder layers, random "
        "weights) at its embedding and at its second encoder layer, baseline token 0.",
        "For one example, perspicio's LayerIntegratedGradients runs the layers before the "
        "captured one once per chunk of steps; Captum runs the whole model for every step.",
    ),
    "metrics": Section(
        "Metrics",
        "Captum",
        "infidelity and sensitivity_max with 10 perturbations each (a fixed shift, so both "
        "libraries see the same perturbations) on resnet18 at 224 and on the MLP; "
        "sensitivity_max explains with the same Saliency in both, so its rows measure the "
        "metric's own overhead.",
    ),
    "vision": Section(
        "The vision front end's overhead",
        "bare core call",
        "`vision.explain` on resnet18 (random weights) with scikit-image's chelsea photo at "
        "224x224, against the bare `perspicio.core` call it makes (same method, target, "
        "baseline and superpixels): a ratio below 1 is the front end's overhead.",
        "Single-pass methods read the prediction from their own forward pass; for "
        "IntegratedGradients `explain` evaluates the image and its baseline in one batch of "
        "two rows, which gives the prediction and both ends of the convergence delta.",
    ),
    "text": Section(
        "Text",
        "Captum",
        "LayerIntegratedGradients (n_steps 50, baseline: PAD with the special tokens kept, "
        "the attention mask passed through) at the embedding of the MiniLM sentiment demo "
        "(`perspicio.text.demo`), reviews padded to 64 tokens.",
        "A batch of reviews multiplies the interpolated rows: perspicio evaluates them in "
        "cache-sized chunks, Captum's default evaluates all of them in one batch.",
    ),
    "tabular": Section(
        "Tabular and datasets",
        "Captum",
        "Global KernelShap importance (200 coalitions a row, the rows' mean as the reference, "
        "target 1 'benign') of the breast-cancer demo MLP over rows drawn around the "
        "breast-cancer data (Gaussian noise of 10% of each column's spread). The last two "
        "lines time perspicio alone on more rows: its local engine and its Ray engine.",
        "perspicio solves a shard's regressions as one batched least-squares problem; "
        "Captum's KernelShap loops over the rows and fits one regression each. On one "
        "machine the local engine's torch threads already use every core; the Ray engine "
        "adds its actors' start-up and the object store, and is there for work that "
        "outgrows one machine.",
    ),
    "trees": Section(
        "Exact tree Shapley values",
        "shap",
        "A scikit-learn `GradientBoostingClassifier` (200 trees of depth 6) and LightGBM's "
        "default classifier (100 trees of 31 leaves) on 30 features of "
        "`make_classification`; their margin (log-odds), explained against 100 background "
        "rows (the interventional game) or by the trees' own cover (path-dependent). The "
        "defaults column times each library's user-facing call with the model read inside "
        "it; the best column reads the model once, outside both timed calls.",
        "shap's compiled TreeSHAP (`shap._cext`) runs on one thread whatever the limit; "
        "perspicio's tensor code runs on torch's threads, so one row repeats the "
        "gradient-boosting case with perspicio on one torch thread. For path-dependent "
        "values of a LightGBM model without background data shap calls LightGBM's own "
        "`predict(pred_contrib=True)`, compiled and on OpenMP threads (limited like the "
        "others). Trees whose paths run through more than 10 features (LightGBM's defaults) "
        "cannot be tabulated by perspicio (4^D pattern pairs a leaf): it reads each pair of "
        "rows' bit patterns instead, and computes path-dependent values row by row.",
    ),
    "generation": Section(
        "Text generation (LLMAttribution)",
        "Captum",
        "The capital-cities GPT-2 demo (2 layers, 64 wide), a 40-word prompt (41 tokens with "
        "`<bos>`) attributed per word (a template slot a word), a 10-token target.",
        "perspicio teacher-forces: it scores every perturbed prompt with one forward pass "
        "over prompt and target, puts the perturbed prompts of a call into right-padded "
        "batches and scores each distinct perturbation once. Captum's default scores each "
        "target token with a forward pass of its own; its one-pass mode teacher-forces too "
        "but scores one prompt per forward call. The Shapley rows' check is the correlation "
        "of the two estimates (the orderings differ: perspicio draws antithetic pairs).",
    ),
    "vlm": Section(
        "Vision-language generation (ImageMaskInput)",
        "Captum",
        "A tiny LLaVA built offline (random weights, 4.7M parameters: CLIP ViT 4 x 256 on "
        "8-pixel patches of a 64 x 64 image, 64 image tokens; Llama 4 x 256), a 73-token "
        "prompt, a 25-token target (Captum's default generation length), the image in 16 "
        "segments (a 4 x 4 grid). Floor: the bare model's forward call over the 17 painted "
        "images with the target appended, in one batch (no processor, no method).",
        "perspicio paints the segments, runs the processor per painted image, and scores "
        "every painted image's target tokens in one teacher-forced pass, many images per "
        "forward call, after checking once per model and input layout that this equals "
        "token-by-token scoring one image at a time. Captum's default scores each target "
        "token with a call of its own through the KV cache; on transformers 5 its cached "
        "path scores LLaVA differently from the model's own generate() (the check column), "
        "its uncached one-pass mode agrees to float noise.",
    ),
    "incremental": Section(
        "Incremental occlusion",
        "perspicio batched",
        "torchvision resnet18 and resnet50 (random weights, eval mode) on scikit-image's cat "
        "photo at 224x224, target 3: Occlusion with 3x15x15 windows (stride 8 on resnet18, 15 on "
        "resnet50) and FeatureAblation over "
        "49 SLIC superpixels, perspicio's incremental evaluation against its own batched "
        "evaluation (Captum's times for resnet18 are in the perturbation table). The "
        "incremental evaluation is exact: the check is the largest difference.",
        "How much an exact incremental scheme can save is set by the architecture: "
        "`python -m benchmarks.occlusion_flops` counts the multiply-adds left for a window "
        'grid. `incremental="auto"` chooses it where the estimated saving is at least 1.5x, '
        "the image at least 32x32 and the model at least 100M multiply-adds per image. The "
        "estimate counts multiply-adds, not the work around them at every layer of every "
        "window: a ratio below 1 here is a model where that work outweighs the saving, "
        "and `incremental=False` the faster choice.",
    ),
    "cam": Section(
        "The CAM family against pytorch-grad-cam",
        "pytorch-grad-cam",
        "Both libraries produce the map for each image's target, ReLU'd, upsampled to the "
        "input size and scaled to [0, 1] per image (pytorch-grad-cam's output); four images "
        "a call (targets 1-4) on resnet18 (layer4) and on a 4-block ViT at 224 (the last "
        "block's `ln_1`). The check is the largest difference of the scaled maps; Eigen-CAM "
        "is not compared (the sign of a singular vector is arbitrary).",
        "The gradient CAMs run one batched backward pass for all images and targets in both "
        "libraries; pytorch-grad-cam then moves the maps to NumPy and resizes them with "
        "OpenCV. For Ablation-CAM pytorch-grad-cam runs the whole network once per channel, "
        "`batch_size` channels a call; perspicio lets the batch grow at the layer, so the "
        "part before it runs once. Grad-CAM++ differs by pytorch-grad-cam's epsilon (1e-6) "
        "in the denominator of its position weights, which dominates where gradients are "
        "small; perspicio follows the paper's closed form.",
    ),
    "robust": Section(
        "AttackComparator",
        "Captum",
        "5 random perturbations (Gaussian, uniform, brightness, erasing, salt) drawn 10 times "
        "each, plus the original, under an (accuracy, output at the target) metric, on a "
        "3-conv CNN with batches of 32x32 images. The same draws in both libraries (check: "
        "the largest difference of the mean metrics). Floor: the 51 forward passes of the "
        "batch alone, default layout, one copy a call.",
        "perspicio keeps the metric's values and summarises them once at the end, and "
        "hands batches of four or more images to the model channels-last.",
    ),
    "concept": Section(
        "TCAV",
        "Captum",
        "2 concepts and 5 random concepts of 50 random images each, the 10 experimental "
        "sets (concept, random), layers `layer3` and `layer4` of a resnet18 at 224, scores "
        "for 50 images; each call starts from an empty folder.",
        "Captum computes the activations of a concept again for every experimental set it "
        "is in (its check for stored activations passes the layer and the concept in "
        "swapped order) and fits the classifiers one by one; perspicio computes each "
        "concept's activations once, in channels-last chunks that stop after the last "
        "layer needed, and solves all classifiers of a layer in one batch. The CAVs differ "
        "(logistic regression against Captum's stochastic hinge loss), so the scores are "
        "not compared here; with the same classifier they are equal "
        "(tests/core/test_concept.py).",
    ),
    "influence": Section(
        "Training-data influence (TracIn)",
        "Captum",
        "A small CNN (two conv blocks, a linear head; 5,258 parameters) on random 28x28 "
        "images of 10 classes, 3 checkpoints, batches of 256: the self-influence of every "
        "training image, then the 10 most influential training images of 100 test images, "
        "on one instance. The check is the largest difference of the self-influences "
        "relative to their largest value.",
        "Captum's default TracInCP runs one backward pass per example and checkpoint, twice "
        "over the training data (self-influence, then the top-k); with "
        "`sample_wise_grads_per_batch=True` it computes a batch's per-example gradients "
        "from hooks on its layers. perspicio computes each batch's per-example gradients "
        "with `vmap` over `grad`, the checkpoints held in memory. For TracInCPFast perspicio "
        "computes the output gradient in closed form (no backward pass) and keeps the "
        "training images' factors, so the top-k search does not run the model on the "
        "training data again (Captum does).",
    ),
}


def fmt_ms(value: float) -> str:
    if value != value:
        return ""
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def fmt_ratio(value: float) -> str:
    if value != value:
        return ""
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def fmt_check(value: float, kind: str) -> str:
    if value != value:
        return ""
    return f"r={value:.2f}" if kind == "corr" else f"{value:.2g}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def table(results: list, other: str, notes: bool = True) -> str:
    """One suite's markdown table and its numbered settings lines."""
    best = any(r.theirs_best == r.theirs_best for r in results)
    floor = any(r.floor == r.floor for r in results)
    diffs = any(r.diff == r.diff for r in results)
    diffs_best = any(r.diff_best == r.diff_best for r in results)
    header = ["case", "perspicio ms", f"{other} ms", "ratio"]
    if best:
        header += ["perspicio best ms", f"{other} best ms", "best ratio"]
    if floor:
        header += ["floor ms"]
    if diffs:
        header += ["check"]
    if diffs_best:
        header += ["check (best)"]
    if notes:
        header += ["settings"]
    settings: list[tuple[str, str, bool]] = []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        row = [_escape(r.name), fmt_ms(r.ours), fmt_ms(r.theirs), fmt_ratio(r.ratio)]
        if best:
            row += [fmt_ms(r.ours_best), fmt_ms(r.theirs_best), fmt_ratio(r.ratio_best)]
        if floor:
            row += [fmt_ms(r.floor)]
        if diffs:
            row += [fmt_check(r.diff, r.kind)]
        if diffs_best:
            row += [fmt_check(r.diff_best, r.kind)]
        if notes:
            key = (r.settings, r.best, r.theirs == r.theirs)
            if key not in settings:
                settings.append(key)
            row += [f"({settings.index(key) + 1})"]
        lines.append("| " + " | ".join(row) + " |")
    if notes:
        lines.append("")
        for i, (defaults, best_text, compared) in enumerate(settings, 1):
            defaults = defaults or "each library as it comes"
            if best_text:
                text = f"({i}) {'Defaults: ' if compared else ''}{defaults}. Best: {best_text}."
            else:
                text = f"({i}) {defaults[0].upper()}{defaults[1:]}."
            lines.append(text)
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def tables(results: list) -> str:
    """Every suite's table (for ``--markdown``)."""
    out = []
    for key, section in SECTIONS.items():
        rows = [r for r in results if r.suite == key]
        if rows:
            out.append(f"## {section.title}\n\n{table(rows, section.other)}")
    return "\n".join(out)


def render(results: list, meta: Meta, partial: bool = False) -> str:
    """The whole page."""
    date = datetime.datetime.fromtimestamp(meta.started, datetime.timezone.utc)
    v = meta.versions
    libs = ", ".join(f"{k} {v[k]}" for k in v if k != "perspicio")
    pools = "; ".join(meta.pools) if meta.pools else "none reported"
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/report.py: edit the prose there and rerun the command "
        "below; do not edit this file by hand. -->",
        "",
        f"- **Date**: {date:%Y-%m-%d} (UTC), {meta.minutes:.0f} minutes for the whole run.",
        f"- **Machine**: {meta.device_name}, {meta.cores} cores; device `{meta.device}`.",
        f"- **Threads**: {meta.threads} for every library: `torch.set_num_threads"
        f"({meta.threads})`, `threadpoolctl.threadpool_limits({meta.threads})` on the BLAS "
        f"and OpenMP pools (numpy, scikit-learn, LightGBM), `OMP_NUM_THREADS`, "
        f"`OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS` and `NUMBA_NUM_THREADS` set to "
        f"{meta.threads} before the libraries load, `cv2.setNumThreads({meta.threads})` for "
        f"OpenCV (pytorch-grad-cam). Pools at the end of the run: {pools}.",
        f"- **Versions**: perspicio {v.get('perspicio', '?')}; {libs}.",
        f"- **Command**: `{meta.command}` (repeats: {meta.repeats}).",
        "",
    ]
    if partial or meta.repeats < 3:
        lines += [
            "```{warning}",
            "Not the project's figures: this page came from a partial or smoke run (the "
            f"command above); they come from `{COMMAND}` on a quiet machine.",
            "```",
            "",
        ]
    lines += [
        "Reproduce it with `make bench-docs` (the command above), or run a suite or a case:",
        "",
        "```bash",
        COMMAND,
        "python -m benchmarks.run --suite perturbation --repeats 3 --markdown",
        'python -m benchmarks.run --only "KernelShap MLP" --repeats 1',
        "python -m benchmarks.run --suite gradient,perturbation --device cuda",
        "```",
        "",
        "## How to read the tables",
        "",
        "perspicio and the other library (Captum 0.9 unless a table names another) run the "
        "same work: the same model, inputs, targets and sample counts. Each case runs in one "
        "process: every function once as a warm-up (whose results are compared), then "
        f"alternately, {meta.repeats} time{'s' if meta.repeats != 1 else ''} each, so that "
        "drift on a shared machine affects "
        "all of them alike; the tables give the median times in milliseconds.",
        "",
        "- **Defaults** (`perspicio ms`, `<other> ms`, `ratio`): each library as a user gets "
        "it, with its default batching, surrogate and code path. perspicio's perturbation "
        'methods batch perturbations (`perturbations_per_eval="auto"`) where Captum\'s '
        "default evaluates one per model call: this column is what an untuned call costs, "
        "not the same settings.",
        "- **Best** (`best` columns): the other library given the settings that make it "
        "fastest on this work: the same `perturbations_per_eval` or `internal_batch_size` as "
        "perspicio's automatic choice (the number is in the settings line), the same "
        "surrogate, its own fast path. Where perspicio's default is not its own fastest, "
        "`perspicio best ms` runs its fastest. Empty where the other library has no such "
        "setting.",
        "- **ratio**: the other library's time over perspicio's; above 1, perspicio is faster.",
        "- **floor**: the bare model doing the forward (and backward) passes the method "
        "needs, with nothing around them.",
        "- **check**: the largest absolute difference of the two results, or for sampling "
        "methods, whose draws differ, their correlation (`r=`).",
        "- **settings**: the numbered line under the table says what both sides ran with. "
        "Models, inputs and explainer objects are built outside both timed functions unless "
        "the line says otherwise.",
        "",
        "This machine is shared: times of the same case vary between runs, the ratios (both "
        "sides timed alternately in one process) less so.",
        "",
    ]
    for key, section in SECTIONS.items():
        rows = [r for r in results if r.suite == key]
        lines += [f"## {section.title}", "", section.intro, ""]
        if rows:
            lines += [table(rows, section.other)]
        else:  # the heading stays: other pages link to it
            lines += [f"(Not run by this command: `--suite {key}` runs it.)", ""]
        if section.notes:
            lines += [section.notes, ""]
    return "\n".join(lines).rstrip() + "\n"


def save(path: str, results: list, meta: Meta) -> None:
    """The run's results as JSON, to render the page again (``--from``) without rerunning."""
    with open(path, "w") as f:
        json.dump({"meta": asdict(meta), "results": [asdict(r) for r in results]}, f, indent=1)


def load(path: str) -> tuple[list, Meta]:
    from .common import Result

    with open(path) as f:
        data = json.load(f)
    return [Result(**r) for r in data["results"]], Meta(**data["meta"])


def main(argv=None) -> None:
    """``python -m benchmarks.report --from results.json --write docs/benchmarks.md``: the
    page again from a run's saved results (after editing the prose here)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--from", dest="source", required=True, help="a run's --json file")
    parser.add_argument("--write", required=True, metavar="PATH")
    args = parser.parse_args(argv)
    results, meta = load(args.source)
    partial = {r.suite for r in results} != set(SECTIONS)
    with open(args.write, "w") as f:
        f.write(render(results, meta, partial=partial))


if __name__ == "__main__":
    main()
