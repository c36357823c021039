"""The Table page: a patient's prediction explained against a reference population, and the
global importance of every column."""

import hashlib

import pandas as pd
import streamlit as st

from perspicio import tabular
from perspicio.apps import common
from perspicio.core.page import html_page
from perspicio.core.registry import default_method
from perspicio.models import load_tree_model_upload, tree_columns
from perspicio.tabular import MIN_POPULATION, TABULAR_METHODS, TabularExplanation
from perspicio.tabular.explainer import GRADIENT_FREE, TREE_METHODS, VALUE_SWAPPING
from perspicio.tabular.pipeline import is_pipeline, split_pipeline
from perspicio.tabular.trees import is_tree_model


@st.cache_resource(show_spinner="Preparing the explainer...", max_entries=len(TABULAR_METHODS))
def demo_explainer(method: str):
    """An Explainer on the demo model against its training split, built once per method and
    shared by every session (nothing of a visitor's in it)."""
    demo, training, _ = common.table_demo()
    return tabular.Explainer(
        demo, training, method=method, seed=0, background_name="the training split"
    )


def explainer_for(method: str):
    """The demo model's shared explainer, or, where the model or the background was uploaded,
    one built for this session (kept by content hash in the session's bounded cache);
    ``output`` picks a tree model's margin or probability."""
    if tree_model is None and background is None:
        return demo_explainer(method)
    demo, training, _ = common.table_demo()
    model = demo if tree_model is None else tree_model
    reference, name = (
        (training, "the training split") if background is None else (background, source)
    )

    def build():
        return tabular.Explainer(
            model,
            reference[list(columns)],
            method=method,
            seed=0,
            background_name=name,
            output=output,
        )

    key = (method, source, fingerprint, model_key, tuple(columns), output)
    return common.session_cached("tab_explainers", key, build)


_, training, held_out = common.table_demo()
model_upload = common.file_upload(
    "Model (optional): a tree model (XGBoost .json/.ubj, LightGBM .txt, scikit-learn "
    ".skops) trained on the breast-cancer columns, explained exactly; or a scikit-learn "
    "Pipeline saved with skops, with a CSV of its columns (text and missing values too)",
    "model",
    type=["json", "ubj", "txt", "skops"],
    key="tab_model",
)
tree_model, model_key, pipeline = None, "demo", False
columns = list(training.columns)
if model_upload is not None:
    model_bytes = model_upload.getvalue()
    model_key = hashlib.sha256(model_bytes).hexdigest()

    def read_model():
        return load_tree_model_upload(model_bytes, model_upload.name)

    try:
        tree_model = common.session_cached("tab_models", (model_key, model_upload.name), read_model)
        pipeline = is_pipeline(tree_model)
        if pipeline:  # the columns it was fitted on, of any type
            names = getattr(tree_model, "feature_names_in_", None)
            if names is None:
                raise ValueError(
                    "the pipeline was not fitted on a DataFrame: its columns are unknown"
                )
            columns = [str(c) for c in names]
        else:
            columns = tree_columns(tree_model, list(training.columns))
    except (ValueError, TypeError, ImportError, OSError) as err:
        st.error(str(err))
        st.stop()
    missing = [c for c in columns if c not in training.columns]
    if missing and not pipeline:
        st.error(f"The model takes column(s) the table lacks, e.g. {missing[:3]}")
        st.stop()
if pipeline:
    OUTPUTS = {"probability (predict_proba)": None, "margin (decision_function)": "margin"}
else:
    OUTPUTS = {
        "what the trees add up (a boosted classifier's margin)": None,
        "probability of the positive class": "probability",
    }
output = None
if tree_model is not None:
    output = OUTPUTS[st.radio("Explain the model's", list(OUTPUTS), key="tab_output")]
upload = common.file_upload(
    "CSV of the pipeline's columns" if pipeline else "CSV (optional; the breast-cancer columns)",
    "table",
    type=["csv"],
    key="tab_upload",
)
frame = held_out  # patients the model was not trained on
if pipeline and upload is None:
    st.info(f"Upload a CSV with the pipeline's columns: {', '.join(columns)}.")
    st.stop()
if upload is not None:
    try:
        frame = pd.read_csv(upload)
    except Exception as err:  # noqa: BLE001
        st.error(f"Could not read this CSV: {err}")
        st.stop()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        st.error(f"The CSV lacks {len(missing)} column(s) the model needs, e.g. {missing[:3]}")
        st.stop()
    frame = frame[list(columns if pipeline else training.columns)]
sources = [] if pipeline else [f"the training split ({len(training)} patients)"]
if upload is not None:
    sources.append(f"the uploaded CSV ({len(frame)} rows)")
source = st.radio("Explain against (background)", sources, key="tab_background")
background, fingerprint = None, 0
if pipeline or source != sources[0]:
    if len(frame) < MIN_POPULATION:
        st.error(
            f"The uploaded CSV has {len(frame)} rows, too few to stand for a population "
            f"(at least {MIN_POPULATION}); explain against the training split instead."
        )
        st.stop()
    background = frame
    fingerprint = int(pd.util.hash_pandas_object(frame, index=False).sum())
row = st.number_input("Row", 0, len(frame) - 1, 0, key="tab_row")
if tree_model is None:
    methods, default = list(TABULAR_METHODS), default_method("table")
elif pipeline:  # the methods that swap values; exact tree values where the pipeline ends in trees
    trees = is_tree_model(split_pipeline(tree_model)[1])
    methods = [*TREE_METHODS, *VALUE_SWAPPING] if trees else list(VALUE_SWAPPING)
    default = default_method("table_tree" if trees else "table_function")
else:  # exact tree Shapley values first; the sampled ones still work on any function
    methods, default = [*TREE_METHODS, *GRADIENT_FREE], default_method("table_tree")
method = st.selectbox("Method", methods, index=methods.index(default), key="tab_method")


score = not pipeline and st.checkbox(
    "Score the method (faithfulness correlation and column flipping, the background's mean "
    "as the removed value, beside a random and a constant map)",
    key="tab_score",
)


def explain_row():
    explainer = explainer_for(method)
    exp = explainer.explain(frame.iloc[[int(row)]][columns])
    return exp, (row_scores(explainer, exp) if score else None)


def row_scores(explainer, exp):
    """The row's explanation scored on the explained model (the metrics of core.metrics)."""
    import torch

    from perspicio.core.metrics import score_attributions

    dtype = exp.attributions.dtype
    x = torch.tensor(frame.iloc[[int(row)]][columns].to_numpy(dtype="float64")).to(dtype)
    mean = explainer.reference.rows.mean(0).to(dtype)
    return score_attributions(
        explainer.model,
        x,
        {exp.method: exp.attributions.detach()},
        metrics=["faithfulness_correlation", "pixel_flipping"],
        target=exp.targets[0],
        baselines=mean.expand_as(x),
        generator=0,
    )


def show_row(result) -> None:
    exp, table = result
    st.subheader(f"Score {float(exp.scores[0]):.3f} (class {exp.targets[0]})")
    st.caption(f"Explained against {exp.background}, with {exp.method}.")
    st.markdown(
        "Largest contributions: "
        + ", ".join(f"{name} ({value:+.3f})" for name, value in exp.top_features(3))
    )
    common.show_explanation(exp, key="table_row")
    st.dataframe(exp.to_frame())
    if table is not None:
        common.show_scores(table)


def explain_table():
    if pipeline:  # exact where it ends in trees, else the sampled default
        name = default if default in TREE_METHODS else default_method("table_importance")
    else:
        name = default_method("table_importance" if tree_model is None else "table_tree")
    explainer = explainer_for(name)
    bar, parts = st.progress(0.0, text="explaining rows"), []
    for start in range(0, len(frame), 64):
        parts.append(explainer.explain(frame.iloc[start : start + 64][columns]))
        bar.progress(min(1.0, (start + 64) / len(frame)))
    bar.empty()
    return TabularExplanation.concatenate(parts)


def show_table(report) -> None:
    st.caption(f"Explained against {report.background}.")
    st.image(common.png(report.plot_global()))
    page = html_page(report.to_html(), title="perspicio report")
    st.download_button("HTML report", page, "report.html", "text/html", key="tab_report")


common.run_and_show("explain_table", explain_row, show_row, button="Explain the row")
common.run_and_show(
    "importance_table", explain_table, show_table, button="Global importance of the table"
)
