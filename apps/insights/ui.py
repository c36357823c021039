"""The explorer's Streamlit interface, shared by the served page and the app's Explorer tab."""

from __future__ import annotations

from typing import Any

from perspicio.core.registry import default_method

from .visualizer import METHOD_ARGUMENTS


def explorer(visualizer: Any, key: str = "insights") -> None:
    """Draw the explorer over ``visualizer`` (filters, examples, explanations); ``key``
    prefixes every widget key, so the explorer can sit beside other widgets."""
    import streamlit as st

    left, middle, right = st.columns(3)
    with left:
        classes = st.multiselect("Predicted class", visualizer.classes, key=f"{key}_classes")
        correctness = st.radio(
            "Prediction", ["all", "correct", "incorrect"], key=f"{key}_correctness", horizontal=True
        )
    with middle:
        count = st.number_input("Examples", 1, 50, 4, key=f"{key}_count")
        model = st.selectbox(
            "Model",
            list(range(len(visualizer.models))),
            format_func=lambda i: f"model {i}",
            key=f"{key}_model",
        )
        side_by_side = len(visualizer.models) > 1 and st.checkbox(
            "Explain with every model, side by side", key=f"{key}_all_models"
        )
    with right:
        methods = list(METHOD_ARGUMENTS)
        method = st.selectbox(
            "Method", methods, index=methods.index(default_method("explorer")), key=f"{key}_method"
        )
        arguments = {
            name: st.number_input(name, 1, 500, int(default), key=f"{key}_arg_{name}")
            for name, default in METHOD_ARGUMENTS[method].items()
        }
    if st.button("Fetch examples", key=f"{key}_fetch", type="primary"):
        try:
            st.session_state[f"{key}_examples"] = visualizer.examples(
                int(count), classes or None, correctness, model
            )
        except Exception as err:  # noqa: BLE001 - the page reports, the session goes on
            st.error(f"Could not read examples: {err}")
    examples = st.session_state.get(f"{key}_examples", [])
    if not examples:
        st.write("Choose the filters and fetch examples.")
    for example in examples:
        with st.container(border=True):
            truth = "?" if example.label is None else visualizer.classes[example.label]
            st.subheader(f"Example {example.index}: true {truth}")
            for m, predictions in enumerate(example.predictions):
                top = ", ".join(f"{name} {p:.1%}" for name, p in predictions)
                st.write(f"Model {m} predicts: {top}")
            if st.button("Explain", key=f"{key}_explain_{example.index}"):
                try:
                    results = (
                        visualizer.explain_models(example, method, **arguments)
                        if side_by_side
                        else [visualizer.explain(example, method, model, **arguments)]
                    )
                    st.session_state[f"{key}_result_{example.index}"] = results
                except Exception as err:  # noqa: BLE001
                    st.error(f"Could not explain: {err}")
            results = st.session_state.get(f"{key}_result_{example.index}") or []
            for column, result in zip(st.columns(max(1, len(results))), results):
                with column:
                    st.caption(f"{result.method} for class {result.target}")
                    for view in result.features:
                        st.markdown(f"**{view.name}**: {view.contribution:.0%} of the attribution")
                        st.progress(min(1.0, max(0.0, view.contribution)))
                        st.html(view.html)
