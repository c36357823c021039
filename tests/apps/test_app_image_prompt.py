"""The app's generation page with an image: a demo scene or an upload, explained by the
shapes vision-language model, the image heat map beside the token table."""

import io
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "apps" / "app.py")


@pytest.mark.slow
def test_generation_page_explains_an_image_prompt():
    from perspicio.text import GENERATION_METHODS
    from perspicio.text.demo_vlm import shape_scenes

    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.switch_page("pages/generation.py").run()
    at.radio(key="gen_image_source").set_value("demo scene").run()
    assert not at.exception, at.exception
    methods = at.selectbox(key="gen_method").options
    assert methods == list(GENERATION_METHODS)  # segments by perturbation, pixels by gradients
    at.number_input(key="gen_scene").set_value(1003).run()
    at.button(key="explain_generation").click().run()
    assert not at.exception and not at.error
    scene = shape_scenes(1, seed=1003)[0]
    assert any(
        s.value == f"Answer: {scene.shape} <eos>" or s.value.startswith(f"Answer: {scene.shape}")
        for s in at.subheader
    )
    assert len(at.get("image")) >= 1  # the heat map
    assert any("image_feature_" in h.proto.body for h in at.get("html"))  # the token table
    # a gradient method: through the pixels and the prompt's tokens, the map per pixel
    at.selectbox(key="gen_method").select("layer_integrated_gradients").run()
    at.button(key="explain_generation").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith(f"Answer: {scene.shape}") for s in at.subheader)
    assert len(at.get("image")) >= 1
    assert any("what" in h.proto.body for h in at.get("html"))  # the prompt's tokens
    at.radio(key="gen_image_source").set_value("upload").run()
    assert not at.exception and any("Upload an image" in i.value for i in at.info)
    buffer = io.BytesIO()
    scene.image.save(buffer, format="PNG")
    assert buffer.getvalue()
