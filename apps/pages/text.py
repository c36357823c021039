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
    "over the words, beside a random ranking)",
    key="txt_score",
)


def explain():
    exp = text.explain(
        model, tokenizer, sentence, method=method, granularity=granularity, seed=0, max_length=128
    )
    return exp, (scores(exp) if score else None)


def scores(exp):
    """The text metrics of the explanation and of a random ranking of the same words."""
    import pandas as pd

    from perspicio.text.metrics import deletion_insertion, eraser, random_like

    better = {
        "comprehensiveness": "higher",
        "sufficiency": "lower",
        "deletion": "lower",
        "insertion": "higher",
    }
    rows = {}
    for label, e in ((exp.method, exp), ("random (reference)", random_like(exp, generator=0))):
        values = eraser(model, tokenizer, e) | deletion_insertion(model, tokenizer, e)
        rows[label] = {f"{k} ({better[k]} is better)": float(v[0]) for k, v in values.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def show(result) -> None:
    exp, table = result
    st.subheader(f"Prediction: {exp.predicted_label} ({exp.predicted_score:.1%})")
    st.html(exp.to_html())
    common.show_explanation(exp, key="text")
    if table is not None:
        st.dataframe(table)


common.run_and_show("explain_text", explain, show)
