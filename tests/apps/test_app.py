"""The Streamlit app, driven headless with streamlit's AppTest: each test opens its own
session on the page it drives."""

import ast
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("efficientnet_lite_pytorch")

from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "apps" / "app.py")


def open_page(page: str | None = None) -> AppTest:
    """A fresh session of the app, on ``page`` (a script under apps/pages/)."""
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_the_pages_and_their_method_lists_come_from_the_registry():
    from perspicio import tabular, text, vision

    at = open_page()
    assert at.multiselect(key="img_methods").options == list(vision.METHODS)
    at = open_page("text")
    assert at.selectbox(key="txt_method").options == list(text.METHODS)
    at = open_page("table")
    assert at.selectbox(key="tab_method").options == list(tabular.TABULAR_METHODS)
    at = open_page("generation")
    assert at.selectbox(key="gen_method").options == list(text.GENERATION_METHODS)


@pytest.mark.slow
def test_image_page_explains_with_two_methods():
    at = open_page()
    at.multiselect(key="img_methods").select("saliency")
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    assert any("Prediction: Egyptian cat" in s.value for s in at.subheader)
    assert len(at.get("image")) >= 3  # the input and one panel per method
    assert len(at.get("download_button")) >= 6  # PNG, HTML and manifest per method
    assert any(c.value.startswith("saliency: Egyptian cat") for c in at.caption)  # the summary


@pytest.mark.slow
def test_image_scores_steps_and_target_controls():
    at = open_page()
    at.multiselect(key="img_methods").select("integrated_gradients")
    at.slider(key="img_steps").set_value(20)
    at.text_input(key="img_target").input("tabby")
    at.checkbox(key="img_score").check()
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    references = ["random (reference)", "constant (reference)"]  # in every report
    assert list(table.index) == ["gradcam", "integrated_gradients", *references]
    named = " | ".join(table.columns)  # a column a reference wins says so after its name
    assert "infidelity (lower is better)" in named
    assert "insertion_auc (higher is better)" in named
    at.text_input(key="img_target").input("giraffe-shark").run()
    at.button(key="explain_image").click().run()
    assert not at.exception and any("not a class name" in e.value for e in at.error)
    # a box is for detectors and segmentation models: the classifier demo says so
    at.text_input(key="img_target").input("").run()
    at.text_input(key="img_box").input("10,10,60,60").run()
    at.button(key="explain_image").click().run()
    assert not at.exception and any("`region` is for segmentation" in e.value for e in at.error)
    at.text_input(key="img_box").input("10,10").run()
    at.button(key="explain_image").click().run()
    assert any("four whole numbers" in e.value for e in at.error)


@pytest.mark.slow
def test_image_page_explains_a_detected_box_and_a_segmented_class():
    at = open_page()
    at.radio(key="img_kind").set_value("shapes detector (demo)").run()
    at.number_input(key="img_scene").set_value(3).run()
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    heading = next(s.value for s in at.subheader if s.value.startswith("Prediction:"))
    assert " at (" in heading  # the detected object: its class and box
    at.text_input(key="img_target").input("2").run()
    at.text_input(key="img_box").input("4,4,20,20").run()
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    assert any("at (4, 4, 20, 20)" in s.value for s in at.subheader)
    at.radio(key="img_kind").set_value("shapes segmenter (demo)").run()
    at.text_input(key="img_box").input("").run()
    at.text_input(key="img_target").input("").run()
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Prediction:") for s in at.subheader)


@pytest.mark.slow
def test_image_page_explains_a_caption_of_the_dual_encoder_demo():
    """The dual-encoder demo: a caption typed as the target is explained, and an empty one
    explains the caption the model picks among the shapes."""
    at = open_page()
    at.radio(key="img_kind").set_value("shapes captions, a dual encoder (demo)").run()
    at.number_input(key="img_scene").set_value(2).run()
    at.multiselect(key="img_methods").set_value(["integrated_gradients"]).run()
    at.text_input(key="img_target").input("a circle").run()
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Prediction: a circle") for s in at.subheader)
    at.text_input(key="img_target").input("").run()
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Prediction: a ") for s in at.subheader)


@pytest.mark.slow
def test_text_page_explains_and_bad_input_keeps_the_app_working():
    at = open_page("text")
    at.button(key="explain_text").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Prediction:") for s in at.subheader)
    at.text_area(key="txt_input").input("   ").run()
    at.button(key="explain_text").click().run()
    assert not at.exception and any("empty" in e.value for e in at.error)
    at.text_area(key="txt_input").input("a wonderful film").run()
    at.button(key="explain_text").click().run()
    assert not at.exception and not any("empty" in e.value for e in at.error)
    at.checkbox(key="txt_score").check()
    at.button(key="explain_text").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table.index)[1] == "random (reference)"
    assert "comprehensiveness (higher is better)" in " | ".join(table.columns)


@pytest.mark.slow
def test_table_page_explains_a_row_against_the_training_split():
    at = open_page("table")
    for method in ("integrated_gradients", "kernel_shap"):
        at.selectbox(key="tab_method").select(method)
        at.button(key="explain_table").click().run()
        assert not at.exception and not at.error
        assert any(s.value.startswith("Score") for s in at.subheader)
        # the first held-out patient, explained against the training split: real credit
        assert any("the training split (455 rows)" in c.value for c in at.caption)
        frame = at.dataframe[-1].value
        assert frame["attribution"].abs().sum() > 0.1, method
    at.checkbox(key="tab_score").check()
    at.button(key="explain_table").click().run()
    assert not at.exception and not at.error
    scores = at.dataframe[-1].value
    assert "constant (reference)" in scores.index
    assert "pixel_flipping (lower is better)" in " ".join(scores.columns)


@pytest.mark.slow
def test_table_page_explains_an_uploaded_xgboost_model_exactly(tmp_path):
    """A gradient-boosting model saved by XGBoost itself (JSON, no pickle) is uploaded,
    offered the exact tree methods first, and the row's explanation is the tabular
    front end's exact one against the training split; bytes that are no model are
    refused with an error on the page."""
    xgboost = pytest.importorskip("xgboost")
    from perspicio import tabular
    from perspicio.tabular.demo import breast_cancer_mlp

    _, training, held_out = breast_cancer_mlp()
    labels = (training["mean radius"] > training["mean radius"].median()).astype(int)
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(training, labels)
    path = tmp_path / "model.json"
    model.save_model(path)
    at = open_page("table")
    at.file_uploader(key="tab_model").set_value(
        ("model.json", path.read_bytes(), "application/json")
    ).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="tab_method").value == "tree_shap"
    assert at.selectbox(key="tab_method").options[:2] == ["tree_shap", "tree_shap_path_dependent"]
    at.button(key="explain_table").click().run()
    assert not at.exception and not at.error
    assert any("with tree_shap" in c.value for c in at.caption)
    shown = at.dataframe[-1].value.set_index("feature")["attribution"]
    loaded = xgboost.XGBClassifier()
    loaded.load_model(path)
    expected = tabular.Explainer(loaded, training, seed=0).explain(held_out.iloc[[0]])
    expected = expected.to_frame().set_index("feature")["attribution"]
    assert shown.abs().sum() > 0.1
    np.testing.assert_allclose(shown[expected.index].to_numpy(), expected.to_numpy(), atol=1e-5)
    # the probability of the positive class instead of the margin: the front end's values
    at.radio(key="tab_output").set_value("probability of the positive class").run()
    at.button(key="explain_table").click().run()
    assert not at.exception and not at.error
    shown = at.dataframe[-1].value.set_index("feature")["attribution"]
    expected = tabular.Explainer(loaded, training, seed=0, output="probability")
    expected = expected.explain(held_out.iloc[[0]]).to_frame().set_index("feature")
    np.testing.assert_allclose(
        shown[expected.index].to_numpy(), expected["attribution"].to_numpy(), atol=1e-6
    )
    at.file_uploader(key="tab_model").set_value(
        ("model.json", b"\x80\x04not a model", "application/json")
    ).run()
    assert not at.exception and at.error


@pytest.mark.slow
def test_generation_page_explains_the_demo_answer():
    at = open_page("generation")
    at.button(key="explain_generation").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Answer: nairobi") for s in at.subheader)
    at.text_input(key="gen_target").input("oslo").run()
    at.selectbox(key="gen_method").select("kernel_shap")
    at.button(key="explain_generation").click().run()
    assert not at.exception and not at.error
    assert any(s.value == "Answer: oslo" for s in at.subheader)
    at.checkbox(key="gen_score").check()
    at.button(key="explain_generation").click().run()
    assert not at.exception and not at.error
    scores = at.dataframe[-1].value
    assert list(scores.index)[1:] == ["random (reference)", "constant (reference)"]
    assert "generation_comprehensiveness (higher is better)" in " ".join(scores.columns)
    at.text_area(key="gen_prompt").input(" ").run()
    at.button(key="explain_generation").click().run()
    assert not at.exception and any("empty" in e.value for e in at.error)


@pytest.mark.slow
def test_the_explorer_page_filters_and_explains():
    at = open_page("explorer")
    at.radio(key="explorer_correctness").set_value("correct").run()
    at.button(key="explorer_fetch").click().run()
    assert not at.exception
    shown = [s.value for s in at.subheader if s.value.startswith("Example ")]
    assert len(shown) == 4
    first = int(shown[0].split()[1].rstrip(":"))
    at.button(key=f"explorer_explain_{first}").click().run()
    assert not at.exception
    assert any("of the attribution" in m.value for m in at.markdown)


def test_the_app_loads_model_files_only_through_the_safe_loader():
    """Every page reads model files with perspicio.models.load_model_file, which only ever
    uses torch.load(..., weights_only=True), or TorchScript where the caller trusts it."""

    def loads(path, owner):
        tree = ast.parse(Path(path).read_text())
        return [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and getattr(n.func, "attr", "") == "load"
            and ast.unparse(getattr(n.func, "value", ast.Name(""))) == owner
        ]

    calls = loads(ROOT / "perspicio" / "models.py", "torch")
    assert calls and all(
        any(k.arg == "weights_only" and k.value.value is True for k in c.keywords) for c in calls
    )
    for script in [
        ROOT / "apps" / "app.py",
        ROOT / "apps" / "common.py",
        *(ROOT / "apps" / "pages").glob("*.py"),
        ROOT / "perspicio" / "cli.py",
    ]:
        assert not loads(script, "torch") and not loads(script, "torch.jit"), script


def test_the_safe_loader_refuses_a_pickled_module(tmp_path):
    import torch

    from perspicio.models import load_model_file

    path = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module: code, not a state dict
    with pytest.raises(Exception, match="Weights only load failed|weights_only"):
        load_model_file(path, lambda: torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="--model: .* is not a TorchScript model"):
        load_model_file(path, name="--model")
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), scripted)
    with pytest.raises(ValueError, match="TorchScript is code"):
        load_model_file(scripted.read_bytes())
    assert load_model_file(scripted.read_bytes(), trust_torchscript=True).training is False
    with pytest.raises(ValueError, match="larger than"):
        load_model_file(scripted, max_mb=1e-6, trust_torchscript=True)


def _scripted_classifier() -> bytes:
    """A tiny TorchScript image classifier with the demo's 1000 classes."""
    import io

    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 1000),
    ).eval()
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(net), buffer)
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("trusted", [False, True])
def test_an_uploaded_torchscript_model_runs_only_if_the_app_was_started_trusting_it(
    monkeypatch, trusted
):
    """`perspicio app` without --trust-torchscript: the upload is refused with the message
    that says TorchScript is code and how the operator opts in; with it, it is explained."""
    from perspicio.models import TRUST_TORCHSCRIPT_ENV

    monkeypatch.setenv(TRUST_TORCHSCRIPT_ENV, "1" if trusted else "0")
    at = open_page()
    at.file_uploader(key="img_model").set_value(
        ("net.pt", _scripted_classifier(), "application/octet-stream")
    ).run()
    at.multiselect(key="img_methods").set_value(["saliency"]).run()
    at.button(key="explain_image").click().run()
    assert not at.exception
    if trusted:
        assert not at.error
        assert any(s.value.startswith("Prediction: ") for s in at.subheader)
    else:
        (error,) = at.error
        assert "net.pt" in error.value and "TorchScript is code" in error.value
        assert "perspicio app --trust-torchscript" in error.value
        assert not any(s.value.startswith("Prediction: ") for s in at.subheader)


def test_every_upload_is_capped_by_perspicio(monkeypatch):
    """The shared upload helper refuses a file over its kind's cap with a message that names
    it, whatever Streamlit's own server cap is."""
    from perspicio.apps import common

    def page():
        import streamlit as st

        from perspicio.apps import common

        upload = common.file_upload("CSV", "table", type=["csv"], key="csv")
        if upload is not None:
            st.write(f"read {len(upload.getvalue())} bytes")

    monkeypatch.setitem(common.UPLOAD_LIMITS_MB, "table", 1)
    at = AppTest.from_function(page).run()
    at.file_uploader(key="csv").set_value(("small.csv", b"a\n1\n", "text/csv")).run()
    assert not at.error and any("read 4 bytes" in m.value for m in at.markdown)
    big = b"a\n" + b"1\n" * (2**20)
    at.file_uploader(key="csv").set_value(("big.csv", big, "text/csv")).run()
    assert not at.exception
    (error,) = at.error
    assert "big.csv: the file is larger than 1 MB" in error.value
    assert not any("read" in m.value for m in at.markdown)  # the page stopped


def test_what_a_session_builds_from_uploads_is_bounded_and_its_own():
    """session_cached keeps a few entries per name in the visitor's session, the least
    recently used dropped first."""

    def page():
        import streamlit as st

        from perspicio.apps import common

        built = st.session_state.setdefault("built", [])
        for key in [0, 1, 2, 3, 0, 4, 5, 0]:
            common.session_cached("models", key, lambda key=key: built.append(key) or key)

    at = AppTest.from_function(page).run()
    assert not at.exception
    from perspicio.apps.common import SESSION_CACHE_ENTRIES

    assert SESSION_CACHE_ENTRIES == 4
    assert at.session_state["built"] == [0, 1, 2, 3, 4, 5]  # 0 kept while used
    assert list(at.session_state["_cache_models"]) == [3, 4, 5, 0]
    other = AppTest.from_function(page).run()
    assert other.session_state["built"] == [0, 1, 2, 3, 4, 5]  # nothing shared


@pytest.mark.slow
@pytest.mark.slow
def test_table_page_explains_an_uploaded_pipeline_on_a_csv_with_text_columns(tmp_path):
    """A scikit-learn pipeline saved with skops and a CSV of its raw columns (text,
    categories, missing values): the row is explained exactly on the CSV's columns, the
    categories shown by name, as the tabular front end explains it."""
    skops_io = pytest.importorskip("skops.io")
    import pandas as pd

    from perspicio import tabular
    from perspicio.tabular.demo import clinical_pipeline

    pipe, _, rows = clinical_pipeline()
    path = tmp_path / "pipeline.skops"
    skops_io.dump(pipe, path)
    at = open_page("table")
    at.file_uploader(key="tab_model").set_value(
        ("pipeline.skops", path.read_bytes(), "application/octet-stream")
    ).run()
    assert not at.exception and not at.error
    assert any("Upload a CSV" in i.value for i in at.info)
    csv = tmp_path / "clinic.csv"
    rows.to_csv(csv, index=False)
    at.file_uploader(key="tab_upload").set_value(("clinic.csv", csv.read_bytes(), "text/csv"))
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="tab_method").value == "tree_shap"
    at.button(key="explain_table").click().run()
    assert not at.exception and not at.error
    shown = at.dataframe[-1].value.set_index("feature")
    assert list(shown.index) == list(rows.columns)
    assert shown.loc["smoker", "value"] == rows.smoker.iloc[0]
    table = pd.read_csv(csv)  # the page's background: the uploaded rows, as read
    expected = tabular.Explainer(pipe, table, seed=0).explain(table.iloc[[0]])
    expected = expected.to_frame().set_index("feature")["attribution"]
    np.testing.assert_allclose(shown["attribution"].to_numpy(), expected.to_numpy(), atol=1e-9)


def test_the_table_page_refuses_an_untrusted_skops_model_by_name(tmp_path):
    pytest.importorskip("skops")
    from sklearn.neighbors import KNeighborsClassifier
    from skops import io as skops_io

    from perspicio.tabular.demo import breast_cancer_mlp

    _, training, _ = breast_cancer_mlp()
    labels = (training["mean radius"] > training["mean radius"].median()).astype(int)
    path = tmp_path / "model.skops"
    skops_io.dump(KNeighborsClassifier().fit(training, labels), path)
    at = open_page("table")
    at.file_uploader(key="tab_model").set_value(
        ("model.skops", path.read_bytes(), "application/octet-stream")
    ).run()
    assert not at.exception
    (error,) = at.error
    assert "sklearn.neighbors._classification.KNeighborsClassifier" in error.value
