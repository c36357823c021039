"""The perspicio command line on the demo models."""

import pytest

from perspicio.cli import main

pytest.importorskip("efficientnet_lite_pytorch")


@pytest.fixture(scope="module")
def cat_png(tmp_path_factory):
    from perspicio.vision.demo import sample_image

    path = tmp_path_factory.mktemp("img") / "cat.png"
    sample_image("chelsea").save(path)
    return path


@pytest.fixture(scope="module")
def patients_csv(tmp_path_factory):
    from perspicio.tabular.demo import breast_cancer

    X, _ = breast_cancer()
    path = tmp_path_factory.mktemp("csv") / "patients.csv"
    X.iloc[:40].to_csv(path, index=False)
    return path


def test_explain_image_writes_png_and_html(cat_png, tmp_path, capsys):
    assert main(["explain", "image", str(cat_png), "--out", str(tmp_path / "cat.png")]) == 0
    assert (tmp_path / "cat.png").stat().st_size > 1000
    assert "cat" in capsys.readouterr().out
    assert (
        main(
            [
                "explain",
                "image",
                str(cat_png),
                "--method",
                "saliency",
                "--out",
                str(tmp_path / "cat.html"),
            ]
        )
        == 0
    )
    assert "data:image/png;base64" in (tmp_path / "cat.html").read_text()


def test_explain_text_and_table_and_importance(patients_csv, tmp_path):
    assert (
        main(
            [
                "explain",
                "text",
                "a good movie",
                "--model",
                "tiny",
                "--out",
                str(tmp_path / "t.html"),
            ]
        )
        == 0
    )
    assert "good" in (tmp_path / "t.html").read_text()
    assert (
        main(
            ["explain", "table", str(patients_csv), "--row", "3", "--out", str(tmp_path / "p.html")]
        )
        == 0
    )
    assert "worst radius" in (tmp_path / "p.html").read_text()
    assert main(["importance", str(patients_csv), "--out", str(tmp_path / "r.html")]) == 0
    assert "Global importance" in (tmp_path / "r.html").read_text()


def test_bad_paths_and_options_give_one_line_errors(cat_png, patients_csv, tmp_path, capsys):
    assert (
        main(["explain", "image", str(tmp_path / "missing.png"), "--out", str(tmp_path / "x.png")])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("perspicio: error:") and "does not exist" in err and err.count("\n") == 1
    assert main(["explain", "image", str(cat_png), "--out", str(tmp_path / "x.gif")]) == 2
    assert (
        main(
            [
                "explain",
                "table",
                str(patients_csv),
                "--row",
                "99",
                "--out",
                str(tmp_path / "x.html"),
            ]
        )
        == 2
    )
    assert "outside" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "image"])  # argparse: missing path
    assert exit_info.value.code == 2


@pytest.fixture(scope="module")
def not_torchscript(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "weights.pt"
    path.write_bytes(b"not a model")
    return path


BAD = [
    ("image file missing", ["explain", "image", "{tmp}/missing.png"], "missing.png"),
    ("image --out suffix", ["explain", "image", "{cat}", "--out", "{tmp}/x.gif"], "--out"),
    ("image --model missing", ["explain", "image", "{cat}", "--model", "{tmp}/m.pt"], "--model"),
    (
        "image --model not TorchScript",
        ["explain", "image", "{cat}", "--model", "{bad_model}"],
        "--model",
    ),
    ("image --method unknown", ["explain", "image", "{cat}", "--method", "nope"], "`method`"),
    ("image --target unknown", ["explain", "image", "{cat}", "--target", "dog"], "`target`"),
    ("text empty", ["explain", "text", "   ", "--model", "tiny"], "`text`"),
    (
        "text --method unknown",
        ["explain", "text", "good", "--model", "tiny", "--method", "x"],
        "`method`",
    ),
    ("table file missing", ["explain", "table", "{tmp}/none.csv"], "none.csv"),
    ("table not a CSV", ["explain", "table", "{cat}"], "{cat}"),
    ("table --row outside", ["explain", "table", "{csv}", "--row", "99"], "--row"),
    (
        "table --background missing",
        ["explain", "table", "{csv}", "--background", "{tmp}/b.csv"],
        "--background",
    ),
    ("table --method unknown", ["explain", "table", "{csv}", "--method", "gradcam"], "`method`"),
    ("importance --out png", ["importance", "{csv}", "--out", "{tmp}/r.png"], "--out"),
    (
        "importance --output without --model",
        ["importance", "{csv}", "--output", "probability"],
        "--output",
    ),
]


@pytest.mark.parametrize(("case", "argv", "named"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_that_names_it(
    case, argv, named, cat_png, patients_csv, not_torchscript, tmp_path, capsys
):
    fill = {"tmp": tmp_path, "cat": cat_png, "csv": patients_csv, "bad_model": not_torchscript}
    assert main([a.format(**fill) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("perspicio: error:") and err.count("\n") == 1, err
    assert named.format(**fill) in err, err
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.html"))


def test_argparse_refuses_unknown_choices():
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "text", "good", "--model", "gpt"])
    assert exit_info.value.code == 2


def test_a_segmentation_region_and_a_detectors_box_from_the_command_line(tmp_path, capsys):
    import numpy as np
    import torch
    from PIL import Image

    class RedIsClassOne(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 1)
            with torch.no_grad():
                self.conv.weight.zero_()
                self.conv.weight[1, 0] = 1.0
                self.conv.bias.copy_(torch.tensor([0.5, 0.0]))

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"out": self.conv(x)}

    model = tmp_path / "segmenter.pt"
    torch.jit.script(RedIsClassOne()).save(str(model))
    pixels = np.full((16, 16, 3), 25, dtype=np.uint8)
    pixels[4:10, 6:12, 0] = 230
    image = tmp_path / "red.png"
    Image.fromarray(pixels).save(image)
    out = tmp_path / "seg.png"
    code = main(
        [
            "explain",
            "image",
            str(image),
            "--model",
            str(model),
            "--method",
            "saliency",
            "--target",
            "1",
            "--region",
            "0,0,8,8",
            "--out",
            str(out),
            "--trust-torchscript",
        ]
    )
    assert code == 0 and out.exists()
    assert (
        main(
            [
                "explain",
                "image",
                str(image),
                "--model",
                str(model),
                "--box",
                "1,1,4,4",
                "--out",
                str(tmp_path / "x.png"),
                "--trust-torchscript",
            ]
        )
        == 2
    )
    assert "--box needs --label" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explain", "image", str(image), "--region", "1,2,3"])


def test_a_torchscript_model_runs_only_with_trust_torchscript(tmp_path, capsys):
    """TorchScript is code: without --trust-torchscript the file is refused (one line that
    says why and names the option), and nothing is written."""
    import torch

    model = tmp_path / "net.pt"
    torch.jit.script(
        torch.nn.Sequential(
            torch.nn.Conv2d(3, 2, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
        )
    ).save(str(model))
    image = tmp_path / "red.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 20, 20)).save(image)
    out = tmp_path / "net.png"
    argv = [
        "explain",
        "image",
        str(image),
        "--model",
        str(model),
        "--method",
        "saliency",
        "--out",
        str(out),
    ]
    assert main(argv) == 2 and not out.exists()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TorchScript is code" in err and "--trust-torchscript" in err
    assert main([*argv, "--trust-torchscript"]) == 0 and out.exists()


@pytest.mark.parametrize("trusted", [False, True])
def test_the_app_command_passes_the_operators_choice_to_the_app(monkeypatch, trusted):
    import subprocess

    from perspicio.models import TRUST_TORCHSCRIPT_ENV

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kwargs: calls.append((argv, kwargs)))
    monkeypatch.setenv(TRUST_TORCHSCRIPT_ENV, "1")  # an inherited setting does not count
    assert main(["app", *(["--trust-torchscript"] if trusted else [])]) == 0
    ((argv, kwargs),) = calls
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("app.py")
    assert kwargs["env"][TRUST_TORCHSCRIPT_ENV] == ("1" if trusted else "0")


@pytest.mark.parametrize("library", ["xgboost", "lightgbm", "skops"])
def test_a_saved_tree_model_is_explained_exactly(patients_csv, tmp_path, library):
    """`perspicio importance --model` reads the file its library saved (no pickle) and
    explains it with exact tree Shapley values."""
    pytest.importorskip(library)
    import pandas as pd
    from sklearn.ensemble import GradientBoostingClassifier

    frame = pd.read_csv(patients_csv)
    label = (frame[frame.columns[0]] > frame[frame.columns[0]].median()).astype(int)
    if library == "xgboost":
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(frame, label)
        path = tmp_path / "model.json"
        model.save_model(path)
    elif library == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=20, max_depth=3, verbose=-1).fit(frame, label)
        path = tmp_path / "model.txt"
        model.booster_.save_model(str(path))
    else:
        from skops import io as skops_io

        model = GradientBoostingClassifier(n_estimators=20, max_depth=3).fit(frame, label)
        path = tmp_path / "model.skops"
        skops_io.dump(model, path)
    out = tmp_path / f"{library}.html"
    assert main(["importance", str(patients_csv), "--model", str(path), "--out", str(out)]) == 0
    page = out.read_text()
    assert "tree_shap" in page and "Global importance" in page
    row = tmp_path / f"{library}-row.html"
    assert (
        main(
            [
                "explain",
                "table",
                str(patients_csv),
                "--model",
                str(path),
                "--row",
                "2",
                "--out",
                str(row),
            ]
        )
        == 0
    )
    # a binary classifier's probability instead of its margin, said on the page
    out = tmp_path / f"{library}-probability.html"
    assert (
        main(
            [
                "importance",
                str(patients_csv),
                "--model",
                str(path),
                "--output",
                "probability",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "onto the probability" in out.read_text()


def test_a_csv_with_text_columns_through_a_saved_pipeline(tmp_path):
    """`perspicio explain table` and `importance` take a CSV as an analyst keeps it (text,
    categories, missing values) and a scikit-learn pipeline saved with skops, explained
    exactly on the CSV's own columns, the categories named in the report."""
    skops_io = pytest.importorskip("skops.io")
    from perspicio.tabular.demo import clinical_pipeline

    pipe, _, rows = clinical_pipeline()
    path = tmp_path / "pipeline.skops"
    skops_io.dump(pipe, path)
    csv = tmp_path / "clinic.csv"
    rows.iloc[:30].to_csv(csv, index=False)
    out = tmp_path / "row.html"
    command = ["explain", "table", str(csv), "--model", str(path), "--row", "1", "--out"]
    assert main([*command, str(out)]) == 0
    page = out.read_text()
    assert "tree_shap" in page and "ColumnTransformer" in page
    # the row's values as the CSV holds them, categories by name
    assert f"<td>smoker</td><td>{rows.smoker.iloc[1]}</td>" in page
    assert f"<td>sex</td><td>{rows.sex.iloc[1]}</td>" in page
    whole = tmp_path / "importance.html"
    command = ["importance", str(csv), "--model", str(path), "--out", str(whole)]
    assert main(command) == 0
    assert "Global importance" in whole.read_text()


def test_a_pickled_model_file_is_refused(patients_csv, tmp_path, capsys):
    path = tmp_path / "model.pkl"
    path.write_bytes(b"not a model")
    assert (
        main(
            [
                "importance",
                str(patients_csv),
                "--model",
                str(path),
                "--out",
                str(tmp_path / "r.html"),
            ]
        )
        == 2
    )
    assert "not a tree model file" in capsys.readouterr().err


def test_an_uploaded_tree_model_is_read_safely_and_its_columns_found(tmp_path):
    """What the app's table page does with an uploaded model file."""
    lightgbm = pytest.importorskip("lightgbm")
    import pandas as pd

    from perspicio.models import load_tree_model_upload, tree_columns
    from perspicio.tabular.demo import breast_cancer_split

    X_train, _, y_train, _ = breast_cancer_split()
    model = lightgbm.LGBMClassifier(n_estimators=10, max_depth=3, verbose=-1).fit(X_train, y_train)
    model.booster_.save_model(str(tmp_path / "m.txt"))
    loaded = load_tree_model_upload((tmp_path / "m.txt").read_bytes(), "upload.txt")
    columns = tree_columns(loaded, list(X_train.columns))
    assert columns == list(X_train.columns)  # "mean_radius" found as "mean radius"
    raw = loaded.predict(X_train[columns].to_numpy()[:3], raw_score=True)
    assert pd.Series(raw).notna().all()
    with pytest.raises(ValueError, match="not a tree model file"):
        load_tree_model_upload(b"...", "model.pkl")


def test_list_prints_the_registries(capsys):
    from perspicio.core.registry import METHODS, METRICS

    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in METHODS)
    assert "gradcam" in out and "image_interactive" in out  # where it is the default
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in METRICS) and "higher" in out and "lower" in out


def test_compare_writes_an_html_report_with_the_references(cat_png, tmp_path, capsys):
    out = tmp_path / "scores.html"
    argv = ["compare", "image", str(cat_png), "--methods", "saliency,input_x_gradient"]
    argv += ["--metrics", "deletion_auc,insertion_auc,sparseness", "--out", str(out)]
    assert main(argv) == 0
    page = out.read_text()
    assert "random (reference)" in page and "constant (reference)" in page
    assert "lower is better" in page and "data:image/png;base64" in page
    assert "input_x_gradient" in capsys.readouterr().out
    assert main(["compare", "image", str(cat_png), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["compare", "image", str(cat_png), "--metrics", "speed", "--out", str(out)]) == 2


def test_compare_text_generation_and_table_write_reports(tmp_path, capsys):
    from perspicio.demos import load_demo

    out = tmp_path / "text.html"
    argv = ["compare", "text", "a wonderful film", "a dull plot", "--model", "tiny"]
    assert main([*argv, "--methods", "feature_ablation", "--out", str(out)]) == 0
    page = out.read_text()
    assert "comprehensiveness" in page and "random (reference)" in page
    out = tmp_path / "gen.html"
    argv = ["compare", "generation", "the capital of peru is", "--target", "lima"]
    argv += ["--methods", "feature_ablation", "--metrics", "generation_comprehensiveness"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "generation_comprehensiveness" in out.read_text()
    _, training, held_out = load_demo("breast_cancer")
    csv = tmp_path / "patients.csv"
    held_out.head(4).to_csv(csv, index=False)
    out = tmp_path / "table.html"
    argv = ["compare", "table", str(csv), "--methods", "integrated_gradients", "--rows", "4"]
    assert main([*argv, "--metrics", "pixel_flipping,deletion_auc", "--out", str(out)]) == 0
    assert "pixel_flipping" in out.read_text() and "constant (reference)" in out.read_text()
    capsys.readouterr()
    # bad input is named, with exit status 2
    assert main(["compare", "text", "x", "--methods", "gradcam", "--out", str(out)]) == 2
    assert "gradcam" in capsys.readouterr().err
    assert main(["compare", "text", "x", "--metrics", "road", "--out", str(out)]) == 2
