"""The Text page: which words made the sentiment model decide."""

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


def explain():
    return text.explain(
        model, tokenizer, sentence, method=method, granularity=granularity, seed=0, max_length=128
    )


def show(exp) -> None:
    st.subheader(f"Prediction: {exp.predicted_label} ({exp.predicted_score:.1%})")
    st.html(exp.to_html())
    common.show_explanation(exp, key="text")


common.run_and_show("explain_text", explain, show)
