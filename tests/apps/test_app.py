"""The Streamlit app, driven headless with streamlit's AppTest."""

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("efficientnet_lite_pytorch")

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "apps" / "app.py")


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    return at


@pytest.mark.slow
def test_every_tab_renders_with_its_demo(app):
    assert not app.exception
    assert len(app.tabs) == 5
    assert [t.label for t in app.tabs] == ["Image", "Text", "Generation", "Table", "Explorer"]


@pytest.mark.slow
def test_image_tab_explains_with_two_methods(app):
    app.multiselect(key="img_methods").select("saliency")
    app.button(key="explain_image").click().run()
    assert not app.exception and not app.error
    assert any("Prediction: Egyptian cat" in s.value for s in app.subheader)
    assert len(app.get("image")) >= 3  # the input and one panel per method
    assert len(app.get("download_button")) >= 4  # PNG and HTML per method


@pytest.mark.slow
def test_text_and_table_tabs_explain(app):
    app.button(key="explain_text").click().run()
    assert not app.exception
    assert any(s.value.startswith("Prediction:") for s in app.subheader)
    for method in ("integrated_gradients", "kernel_shap"):
        app.selectbox(key="tab_method").select(method)
        app.button(key="explain_table").click().run()
        assert not app.exception and not app.error
        assert any(s.value.startswith("Score") for s in app.subheader)
        # the first held-out patient, explained against the training split: real credit
        assert any("the training split (455 rows)" in c.value for c in app.caption)
        frame = app.dataframe[-1].value
        assert frame["attribution"].abs().sum() > 0.1, method


@pytest.mark.slow
def test_generation_tab_explains_the_demo_answer(app):
    app.button(key="explain_generation").click().run()
    assert not app.exception and not app.error
    assert any(s.value.startswith("Answer: nairobi") for s in app.subheader)
    app.text_input(key="gen_target").input("oslo").run()
    app.selectbox(key="gen_method").select("kernel_shap")
    app.button(key="explain_generation").click().run()
    assert not app.exception and not app.error
    assert any(s.value == "Answer: oslo" for s in app.subheader)
    app.text_area(key="gen_prompt").input(" ").run()
    app.button(key="explain_generation").click().run()
    assert not app.exception and any("empty" in e.value for e in app.error)


@pytest.mark.slow
def test_bad_input_shows_a_message_and_the_app_keeps_working(app):
    app.text_area(key="txt_input").input("   ").run()
    app.button(key="explain_text").click().run()
    assert not app.exception
    assert any("empty" in e.value for e in app.error)
    app.text_area(key="txt_input").input("a wonderful film").run()
    app.button(key="explain_text").click().run()
    assert not app.exception and not any("empty" in e.value for e in app.error)


def test_uploaded_models_are_loaded_without_unpickling():
    import ast

    # the loader only ever uses TorchScript or torch.load(..., weights_only=True)
    source = Path(APP).read_text()
    calls = [
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Call)
        and getattr(n.func, "attr", "") == "load"
        and getattr(n.func.value, "id", "") == "torch"
    ]
    assert calls and all(
        any(k.arg == "weights_only" and k.value.value is True for k in c.keywords) for c in calls
    )


@pytest.mark.slow
def test_scores_steps_and_target_controls():
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.multiselect(key="img_methods").select("integrated_gradients")
    at.slider(key="img_steps").set_value(20)
    at.text_input(key="img_target").input("tabby")
    at.checkbox(key="img_score").check()
    at.button(key="explain_image").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table.index) == ["gradcam", "integrated_gradients"]
    assert "infidelity (lower is better)" in table.columns
    at.text_input(key="img_target").input("giraffe-shark").run()
    at.button(key="explain_image").click().run()
    assert not at.exception and any("not a class name" in e.value for e in at.error)


@pytest.mark.slow
def test_the_explorer_tab_filters_and_explains(app):
    app.radio(key="explorer_correctness").set_value("correct").run()
    app.button(key="explorer_fetch").click().run()
    assert not app.exception
    shown = [s.value for s in app.subheader if s.value.startswith("Example ")]
    assert len(shown) == 4
    first = int(shown[0].split()[1].rstrip(":"))
    app.button(key=f"explorer_explain_{first}").click().run()
    assert not app.exception
    assert any("of the attribution" in m.value for m in app.markdown)
