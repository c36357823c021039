"""The ``perspicio`` command line: explanations without writing code.

perspicio explain image cat.jpg --method gradcam --out cat.png
perspicio explain text "A gorgeous, witty film." --out review.html
perspicio explain table patients.csv --row 3 --out patient.html   # vs the training split
perspicio importance patients.csv --background reference.csv --out report.html
perspicio app
perspicio app --trust-torchscript    # uploaded TorchScript (code) loaded too: trusted visitors only
perspicio compare image cat.jpg --methods saliency,integrated_gradients --out scores.html
perspicio compare text "a wonderful film" "a dull plot" --out text-scores.html
perspicio compare generation "the capital of peru is" --target lima --out gen-scores.html
perspicio compare table patients.csv --rows 8 --out table-scores.html
perspicio list methods               # the registry: every method, and where it is offered
perspicio list metrics               # every metric, its direction, needs and chance level
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _image(args) -> None:
    from perspicio import vision
    from perspicio.core.registry import default_method
    from perspicio.core.targets import parse_target
    from perspicio.demos import load_demo

    if args.model == "efficientnet_lite0":
        demo = load_demo(args.model)
        model, transform, labels = demo.model, demo.transform, demo.labels
    else:
        model, transform, labels = _torchscript(args.model, args.trust_torchscript), None, None
    target = parse_target(args.target)
    if args.box is not None:  # a detector's object, given by its box and class
        if args.label is None:
            raise ValueError("--box needs --label (the object's class index)")
        target = {"box": args.box, "label": args.label}
    exp = vision.explain(
        model,
        args.path,
        method=args.method or default_method("image_interactive"),
        target=target,
        transform=transform,
        labels=labels,
        seed=args.seed,
        region=args.region,
    )
    _write(exp, args.out)
    print(f"{exp.predicted_label} ({exp.predicted_score:.3f}) -> {args.out}")


def _box(text: str) -> tuple[int, int, int, int]:
    """``x0,y0,x1,y1`` in whole pixels, as the app reads a box."""
    from perspicio.vision.targets import parse_box

    try:
        box = parse_box(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if box is None:
        raise argparse.ArgumentTypeError("expected X0,Y0,X1,Y1 (four whole numbers), got ''")
    return box


def _torchscript(path: str, trusted: bool):
    """A TorchScript model file, loaded only when the user trusts it (``--trust-torchscript``:
    TorchScript is code); never an unpickled one."""
    from perspicio.models import load_model_file

    return load_model_file(path, name="--model", trust_torchscript=trusted)


def _text(args) -> None:
    from perspicio import text
    from perspicio.core.registry import default_method
    from perspicio.core.targets import parse_target
    from perspicio.demos import load_demo

    model, tokenizer, _ = load_demo(args.model)  # argparse's choices: a text demo
    exp = text.explain(
        model,
        tokenizer,
        args.text,
        method=args.method or default_method("text"),
        target=parse_target(args.target),
        seed=args.seed,
    )
    _write(exp, args.out)
    print(f"{exp.predicted_label} ({exp.predicted_score:.3f}) -> {args.out}")


#: what a tree model's values explain: its raw margin or a binary classifier's probability
OUTPUT_CHOICES = ("margin", "probability")
OUTPUT_HELP = (
    "with --model: explain the trees' margin (default) or a binary classifier's "
    "probability of the positive class"
)
TRUST_HELP = (
    "load the --model TorchScript file: TorchScript is code, run when loaded, so only "
    "for a file you trust (default: refused)"
)
APP_TRUST_HELP = (
    "let the app load uploaded TorchScript model files: TorchScript is code, run "
    "when loaded, so only where every visitor is trusted (default: refused; "
    "state dicts and safetensors are always read)"
)
MODEL_HELP = (
    "a model file: XGBoost .json/.ubj, LightGBM .txt, or a scikit-learn tree model or "
    "Pipeline saved with skops (.skops; a pipeline takes the CSV's columns as they are, "
    "text-valued and missing values included) (default: the breast-cancer demo model)"
)


def _tree_explainer(args, method: str | None):
    """A tree model file's explainer (exact tree Shapley values by default), against
    ``--background`` (or the table itself)."""
    import pandas as pd

    from perspicio import tabular
    from perspicio.models import load_tree_model_file, tree_columns
    from perspicio.tabular.pipeline import is_pipeline

    model = load_tree_model_file(args.model, name="--model")
    frame = _read_csv(args.path, None)
    if is_pipeline(model):  # the columns it was fitted on, of any type
        names = getattr(model, "feature_names_in_", None)
        columns = list(frame.columns) if names is None else [str(c) for c in names]
    else:
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        columns = tree_columns(model, numeric)
    source = args.background or args.path
    background = _read_csv(source, columns, "--background" if args.background else "path")
    name = args.background or f"the rows of {Path(args.path).name}"
    explainer = tabular.Explainer(
        model, background, method=method, seed=args.seed, background_name=name, output=args.output
    )
    return explainer, columns


def _table_explainer(args, method: str | None):
    """The explainer of ``--model`` (a tree model file) or of the demo model, against the
    training split or ``--background``."""
    if getattr(args, "model", None):
        return _tree_explainer(args, method)
    if getattr(args, "output", None) is not None:
        raise ValueError(
            f"--output {args.output}: applies to a tree model given with --model; the demo "
            "model is explained through its probabilities already"
        )
    from perspicio import tabular
    from perspicio.core.registry import default_method
    from perspicio.demos import load_demo

    if method is None and args.command == "importance":  # a whole table: the sampled default
        method = default_method("table_importance")
    model, training, _ = load_demo("breast_cancer")
    columns = list(training.columns)
    if args.background is None:
        background, name = training, "the demo model's training split"
    else:
        background, name = _read_csv(args.background, columns, "--background"), args.background
    explainer = tabular.Explainer(
        model, background, method=method, seed=args.seed, background_name=name
    )
    return explainer, columns


def _read_csv(path: str, columns: list[str] | None, option: str = "path"):
    import pandas as pd

    if not Path(path).is_file():
        raise FileNotFoundError(f"{option}: no such file: {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{option}: {path} is not a readable CSV ({err})") from None
    if columns is None:
        return frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{option}: {path} lacks {len(missing)} column(s) the model needs, e.g. {missing[:3]}"
        )
    return frame[columns]


def _table(args) -> None:
    explainer, columns = _table_explainer(args, args.method)
    frame = _read_csv(args.path, columns)
    if not 0 <= args.row < len(frame):
        raise ValueError(f"--row {args.row} is outside the table's {len(frame)} rows")
    exp = explainer.explain(frame.iloc[[args.row]])
    _write(exp, args.out)
    print(f"row {args.row}: score {float(exp.scores[0]):.3f}, explained against {exp.background}")
    print(f"-> {args.out}")


def _importance(args) -> None:
    explainer, columns = _table_explainer(args, args.method)
    frame = _read_csv(args.path, columns)
    result = explainer.global_importance(frame, show_progress=True)
    _write(result, args.out)
    print(f"explained against {result.background}")
    print(result.global_importance().head(5).to_string())


def _check_out(out: str, allowed: tuple[str, ...]) -> None:
    if Path(out).suffix not in allowed:
        raise ValueError(f"--out must end with {' or '.join(allowed)}, got {out!r}")


def _write(exp, out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".html":
        from perspicio.core.page import html_page

        html_page(exp.to_html(), title=f"perspicio: {exp.method}", path=path)
    elif path.suffix == ".png":
        exp.plot().savefig(path, dpi=100)
    else:
        raise ValueError(f"--out must end with .png or .html, got {out!r}")


def _compare(args) -> None:
    """Score methods on an image with the registry's metrics: one HTML report."""
    import torch

    from perspicio.core.metrics import compare_methods
    from perspicio.demos import load_demo
    from perspicio.vision._image import to_batch

    if args.model == "efficientnet_lite0":
        demo = load_demo(args.model)
        model, transform = demo.model, demo.transform
    else:
        model, transform = _torchscript(args.model, args.trust_torchscript), None
    x = to_batch(args.path, transform)
    with torch.no_grad():
        target = int(model(x).argmax(-1)[0])
    table = compare_methods(
        model,
        x,
        _names(args.methods),
        metrics=_names(args.metrics),
        target=target,
        generator=args.seed,
        n_perturb_samples=args.samples,
        show_progress=True,
    )
    _report(table, args.out)


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _report(table, out: str) -> None:
    from perspicio.core.metrics import comparison_html
    from perspicio.core.page import html_page

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    html_page(comparison_html(table), title="perspicio: which explanation?", path=path)
    print(table.to_string())
    print(f"-> {out}")


def _compare_text(args) -> None:
    """Score text methods with ERASER and the word deletion/insertion curves."""
    from perspicio import text
    from perspicio.demos import load_demo

    model, tokenizer, _ = load_demo(args.model)
    table = text.compare(
        model,
        tokenizer,
        args.texts,
        methods=_names(args.methods),
        metrics=_names(args.metrics),
        seed=args.seed,
    )
    _report(table, args.out)


def _compare_generation(args) -> None:
    """Score generation methods on the demo language model's target log-probability."""
    from perspicio import text
    from perspicio.demos import load_demo

    lm, tokenizer = load_demo("capital_cities")[:2]
    table = text.compare_generation(
        lm,
        tokenizer,
        args.prompt,
        args.target,
        methods=_names(args.methods),
        metrics=_names(args.metrics),
        seed=args.seed,
    )
    _report(table, args.out)


def _compare_table(args) -> None:
    """Score methods on rows of a CSV explained by the breast-cancer demo model, the
    training mean as the baseline and the removed value."""
    import torch

    from perspicio.core.metrics import compare_methods
    from perspicio.demos import load_demo

    model, training, _ = load_demo("breast_cancer")
    frame = _read_csv(args.path, list(training.columns))
    rows = frame[list(training.columns)].head(args.rows)
    x = torch.tensor(rows.to_numpy(dtype="float64"), dtype=torch.float32)
    mean = torch.tensor(training.to_numpy(dtype="float64").mean(0), dtype=torch.float32)
    with torch.no_grad():
        target = model(x).argmax(-1)
    from perspicio.core.registry import default_method

    # by default a gradient method and a black-box one: the demo's and any function's
    methods = _names(args.methods) or [default_method("table"), default_method("table_function")]
    table = compare_methods(
        model,
        x,
        methods,
        metrics=_names(args.metrics),
        target=target,
        baselines=mean.expand_as(x),
        generator=args.seed,
        n_perturb_samples=args.samples,
        show_progress=True,
    )
    _report(table, args.out)


def _list(args) -> None:
    """The registry as a table: every method and where it is offered, or every metric."""
    from perspicio import tabular, text, vision
    from perspicio.core.registry import METHODS, METRICS

    if args.what == "methods":
        offered = {
            "image": vision.METHODS,
            "text": text.METHODS,
            "table": tabular.TABULAR_METHODS,
            "trees": tabular.TREE_METHODS,
            "generation": text.GENERATION_METHODS,
        }
        print(f"{'method':30} {'family':13} offered by")
        for name, spec in METHODS.items():
            where = ", ".join(k for k, listed in offered.items() if name in listed) or "Python"
            defaults = f"  (default: {', '.join(spec.default_for)})" if spec.default_for else ""
            print(f"{name:30} {spec.family:13} {where}{defaults}")
        return
    import perspicio.text  # noqa: F401 - registers the text metrics

    width = max(len(name) for name in METRICS) + 1
    print(f"{'metric':{width}} {'family':13} {'better':7} {'data':28} needs")
    for name, spec in METRICS.items():
        better = "higher" if spec.higher_is_better else "lower"
        chance = "  (has a chance level)" if spec.chance is not None else ""
        data = ", ".join(sorted(spec.modalities))
        needs = ", ".join(sorted(spec.needs))
        print(f"{name:{width}} {spec.family:13} {better:7} {data:28} {needs}{chance}")


def _app(args) -> None:
    import os
    import subprocess

    from perspicio.models import TRUST_TORCHSCRIPT_ENV

    app = Path(__file__).resolve().parent / "apps" / "app.py"
    if not app.exists():
        from perspicio import apps

        app = Path(apps.__file__).resolve().parent / "app.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app),
            "--server.address",
            args.address,
            "--server.port",
            str(args.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        check=True,
        # the operator's choice, read by the pages that load model files
        env={**os.environ, TRUST_TORCHSCRIPT_ENV: "1" if args.trust_torchscript else "0"},
    )


def parser() -> argparse.ArgumentParser:
    from perspicio.demos import demo_names

    p = argparse.ArgumentParser(prog="perspicio", description="Explain model decisions.")
    sub = p.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="explain one input").add_subparsers(
        dest="kind", required=True
    )

    image = explain.add_parser("image", help="explain an image classifier's decision")
    image.add_argument("path", help="an image file")
    image.add_argument(
        "--model",
        default="efficientnet_lite0",
        help="efficientnet_lite0 (demo) or a TorchScript file (needs --trust-torchscript)",
    )
    image.add_argument("--trust-torchscript", action="store_true", help=TRUST_HELP)
    image.add_argument(
        "--method",
        default=None,
        help="any method name (default: the registry's first map, gradcam; "
        "see perspicio list methods)",
    )
    image.add_argument(
        "--target",
        default=None,
        help="class index or name, or a detector's detection index (default: "
        "predicted / the top detection)",
    )
    image.add_argument(
        "--region",
        type=_box,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="segmentation models: the box whose pixels the class is summed "
        "over (default: the pixels predicted as the class)",
    )
    image.add_argument(
        "--box",
        type=_box,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="detectors: the object to explain, with --label",
    )
    image.add_argument("--label", type=int, default=None, help="detectors: the object's class")
    image.add_argument("--out", default="explanation.png", help="output .png or .html")
    image.add_argument("--seed", type=int, default=0)
    image.set_defaults(run=_image)

    txt = explain.add_parser("text", help="explain a text classifier's decision")
    txt.add_argument("text", help="the text to explain")
    txt.add_argument(
        "--model",
        default="minilm",
        choices=demo_names("text"),
        help="a demo sentiment model: minilm or tiny",
    )
    txt.add_argument(
        "--method", default=None, help="default: the registry's, layer_integrated_gradients"
    )
    txt.add_argument("--target", default=None, help="label name (default: predicted)")
    txt.add_argument("--out", default="explanation.html", help="output .html or .png")
    txt.add_argument("--seed", type=int, default=0)
    txt.set_defaults(run=_text)

    table = explain.add_parser("table", help="explain one row of a CSV (breast-cancer demo model)")
    table.add_argument("path", help="a CSV with the model's columns")
    table.add_argument("--row", type=int, default=0, help="the row to explain")
    table.add_argument(
        "--method",
        default=None,
        help="default: tree_shap for --model, integrated_gradients for the demo",
    )
    table.add_argument("--model", default=None, help=MODEL_HELP)
    table.add_argument("--output", default=None, choices=OUTPUT_CHOICES, help=OUTPUT_HELP)
    table.add_argument("--out", default="explanation.html", help="output .html or .png")
    table.add_argument("--seed", type=int, default=0)
    table.add_argument(
        "--background",
        default=None,
        help="a CSV of the reference population (default: the demo model's training split)",
    )
    table.set_defaults(run=_table)

    imp = sub.add_parser("importance", help="global feature importance of a CSV (demo model)")
    imp.add_argument("path")
    imp.add_argument(
        "--method", default=None, help="default: tree_shap for --model, kernel_shap for the demo"
    )
    imp.add_argument("--model", default=None, help=MODEL_HELP)
    imp.add_argument("--output", default=None, choices=OUTPUT_CHOICES, help=OUTPUT_HELP)
    imp.add_argument("--out", default="report.html", help="output .html report")
    imp.add_argument("--seed", type=int, default=0)
    imp.add_argument(
        "--background",
        default=None,
        help="a CSV of the reference population (default: the demo model's training split)",
    )
    imp.set_defaults(run=_importance)

    compare = sub.add_parser("compare", help="score methods with the metrics: an HTML report")
    kinds = compare.add_subparsers(dest="kind", required=True)

    def comparison(name: str, about: str, run, methods: str | None, samples: bool = True):
        """A ``compare`` sub-command with the options every comparison takes."""
        kind = kinds.add_parser(name, help=about)
        kind.set_defaults(run=run)
        default = f"default: {methods}" if methods else "default: the registry's"
        kind.add_argument("--methods", default=methods, help=f"comma-separated ({default})")
        kind.add_argument(
            "--metrics", default=None, help="comma-separated (default: the registry's)"
        )
        if samples:
            kind.add_argument("--samples", type=int, default=10, help="perturbations per metric")
        kind.add_argument("--out", default="comparison.html", help="output .html report")
        kind.add_argument("--seed", type=int, default=0)
        return kind

    cimage = comparison(
        "image", "on an image classifier's decision", _compare, "saliency,input_x_gradient"
    )
    cimage.add_argument("path", help="an image file")
    cimage.add_argument(
        "--model",
        default="efficientnet_lite0",
        help="efficientnet_lite0 (demo) or a TorchScript file (needs --trust-torchscript)",
    )
    cimage.add_argument("--trust-torchscript", action="store_true", help=TRUST_HELP)

    ctext = comparison(
        "text", "on a demo sentiment classifier's decisions", _compare_text, None, samples=False
    )
    ctext.add_argument("texts", nargs="+", help="one or more texts")
    ctext.add_argument("--model", default="tiny", choices=demo_names("text"))

    cgen = comparison(
        "generation",
        "on the demo language model's continuation",
        _compare_generation,
        None,
        samples=False,
    )
    cgen.add_argument("prompt", help="e.g. 'the capital of peru is'")
    cgen.add_argument("--target", required=True, help="the continuation to explain")

    ctable = comparison(
        "table", "on rows of a CSV (breast-cancer demo model)", _compare_table, None
    )
    ctable.add_argument("path", help="a CSV with the demo's columns")
    ctable.add_argument("--rows", type=int, default=8, help="how many rows, from the top")

    listing = sub.add_parser("list", help="the registry's methods or metrics")
    listing.add_argument("what", choices=["methods", "metrics"])
    listing.set_defaults(run=_list)

    app = sub.add_parser("app", help="start the web app on 127.0.0.1")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default="127.0.0.1")
    app.add_argument("--trust-torchscript", action="store_true", help=APP_TRUST_HELP)
    app.set_defaults(run=_app)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if getattr(args, "out", None) is not None:  # before any work
            html_only = args.command in ("importance", "compare")
            _check_out(args.out, (".html",) if html_only else (".png", ".html"))
        args.run(args)
    except (ValueError, TypeError, FileNotFoundError, OSError, KeyError) as err:
        print(f"perspicio: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
