"""The Generation page: which words of a prompt (or which parts of an image) made a model
answer."""

import streamlit as st

from perspicio.apps import common
from perspicio.core.registry import default_method
from perspicio.text import GENERATION_METHODS, explain_generation

source = st.radio(
    "Image with the prompt",
    ["none", "demo scene", "upload"],
    horizontal=True,
    key="gen_image_source",
)
image = None
if source == "none":
    model, tokenizer = common.generation_demo()
    st.caption(
        "A small GPT-2 trained here on sentences such as 'i flew to peru . the capital of "
        "japan is tokyo .': which words of the prompt made it answer?"
    )
    default_prompt = "it rained in oslo . my friend likes chile . the capital of kenya is"
else:
    from PIL import Image

    from perspicio.text import demo_vlm

    model, tokenizer = common.vlm_demo()  # tokenizer: the model's processor
    st.caption(
        "A small vision-language model trained here to name the shape in a scene: which "
        "parts of the image made it answer? (Its prompt keeps the <image> token.)"
    )
    default_prompt = demo_vlm.prompt(demo_vlm.QUESTION)
    if source == "demo scene":
        seed = st.number_input("Scene", 0, 9999, 1000, key="gen_scene")
        image = demo_vlm.shape_scenes(1, seed=int(seed))[0].image
    else:
        upload = common.file_upload(
            "Image", "image", type=["png", "jpg", "jpeg"], key="gen_image_upload"
        )
        if upload is None:
            st.info("Upload an image to explain the answer about it.")
            st.stop()
        image = Image.open(upload).convert("RGB")
    grid = st.slider("Segments (a grid of n x n)", 2, 8, 4, key="gen_grid")
prompt = st.text_area(
    "Prompt", default_prompt, key="gen_prompt" if image is None else "gen_prompt_image"
)
target = st.text_input("Target (empty: the model's own greedy answer)", "", key="gen_target")
# with an image, the perturbation methods score its segments, the gradient methods go
# through its pixels and the prompt's tokens together
methods = list(GENERATION_METHODS)
method = st.selectbox(
    "Method", methods, index=methods.index(default_method("generation")), key="gen_method"
)
score = image is None and st.checkbox(
    "Score the method (the answer's log-probability as the most relevant words are removed: "
    "comprehensiveness, sufficiency, deletion and insertion, beside a random and a constant "
    "ranking)",
    key="gen_score",
)


def explain():
    extra = {} if image is None else {"image": image, "segments": grid}
    result = explain_generation(
        model,
        tokenizer,
        prompt,
        target=target.strip() or None,
        method=method,
        gen_args={"max_new_tokens": 6, "do_sample": False},
        **extra,
    )
    if not score:
        return result, None
    from perspicio.text import score_explanations

    return result, score_explanations(model, tokenizer, {method: result})


def show(explained) -> None:
    result, table = explained
    st.subheader("Answer: " + " ".join(result.output_tokens))
    if image is None:
        st.html(result.to_html())
        common.show_explanation(result, key="generation")
        if table is not None:
            common.show_scores(table)
        return
    left, right = st.columns(2)
    with left:  # the image heat map (the result's figure), with the downloads
        common.show_explanation(result, key="generation_image")
    with right:
        st.html(result.to_html())


common.run_and_show("explain_generation", explain, show, button="Explain the answer")
