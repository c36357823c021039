"""The Generation page: which words of a prompt made a language model answer."""

import streamlit as st

from perspicio.apps import common
from perspicio.core.registry import default_method
from perspicio.text import GENERATION_METHODS, explain_generation

model, tokenizer = common.generation_demo()
st.caption(
    "A small GPT-2 trained here on sentences such as 'i flew to peru . the capital of "
    "japan is tokyo .': which words of the prompt made it answer?"
)
prompt = st.text_area("Prompt", "it rained in oslo . my friend likes chile . the capital of "
                      "kenya is", key="gen_prompt")  # fmt: skip
target = st.text_input("Target (empty: the model's own greedy answer)", "", key="gen_target")
methods = list(GENERATION_METHODS)
method = st.selectbox("Method", methods, index=methods.index(default_method("generation")),
                      key="gen_method")  # fmt: skip


def explain():
    return explain_generation(
        model,
        tokenizer,
        prompt,
        target=target.strip() or None,
        method=method,
        gen_args={"max_new_tokens": 6, "do_sample": False},
    )


def show(result) -> None:
    st.subheader("Answer: " + " ".join(result.output_tokens))
    st.html(result.to_html())
    common.show_explanation(result, key="generation")


common.run_and_show("explain_generation", explain, show, button="Explain the answer")
