"""The Text page: which words made the sentiment model decide, and how faithful that is."""

import streamlit as st

from perspicio import text
from perspicio.apps import common
from perspicio.core.registry import default_method

model, tokenizer, description = common.text_demo()
st.caption(description)
sentence = st.text_area(
    "Text", "A gorgeous, witty film that never stops surprising.", key="txt_input"
)
methods = list(text.METHODS)
method = st.selectbox(
    "Method", methods, index=methods.index(default_method("text")), key="txt_method"
)
granularity = st.radio("Granularity", ["word", "token"], horizontal=True, key="txt_granularity")
score = st.checkbox(
    "Score the method (ERASER comprehensiveness and sufficiency, deletion and insertion "
    "over the words, beside a random and a constant ranking)",
    key="txt_score",
)


def explain():
    exp = text.explain(
        model, tokenizer, sentence, method=method, granularity=granularity, seed=0, max_length=128
    )
    return exp, (scores(exp) if score else None)


def scores(exp):
    """The text metrics of the explanation, beside a random and a constant ranking."""
    return text.score_explanations(model, tokenizer, {exp.method: exp})


def show(result) -> None:
    exp, table = result
    st.subheader(f"Prediction: {exp.predicted_label} ({exp.predicted_score:.1%})")
    st.html(exp.to_html())
    common.show_explanation(exp, key="text")
    if table is not None:
        common.show_scores(table)


common.run_and_show("explain_text", explain, show)
