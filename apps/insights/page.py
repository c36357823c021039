"""The explorer page (a Streamlit script) over the visualizer served in this process."""

import streamlit as st

from perspicio.insights.server import current_visualizer
from perspicio.insights.visualizer import METHOD_ARGUMENTS

st.set_page_config(page_title="perspicio insights", layout="wide")
visualizer = current_visualizer()
st.title("perspicio insights")
if visualizer is None:
    st.info("No visualizer is being served: call AttributionVisualizer.serve().")
    st.stop()

with st.sidebar:
    st.header("Filter")
    classes = st.multiselect("Predicted class", visualizer.classes, key="classes")
    correctness = st.radio("Prediction", ["all", "correct", "incorrect"], key="correctness")
    count = st.number_input("Examples", 1, 50, 4, key="count")
    models = list(range(len(visualizer.models)))
    model = st.selectbox("Model", models, format_func=lambda i: f"model {i}", key="model")
    st.header("Attribution")
    method = st.selectbox("Method", list(METHOD_ARGUMENTS), key="method")
    arguments = {
        name: st.number_input(name, 1, 500, int(default), key=f"arg_{name}")
        for name, default in METHOD_ARGUMENTS[method].items()
    }
    if st.button("Fetch examples", key="fetch", type="primary"):
        try:
            st.session_state["examples"] = visualizer.examples(
                int(count), classes or None, correctness, model
            )
        except Exception as err:  # noqa: BLE001 - the page reports, the session goes on
            st.error(f"Could not read examples: {err}")

examples = st.session_state.get("examples", [])
if not examples:
    st.write("Choose the filters and fetch examples.")
for example in examples:
    with st.container(border=True):
        truth = "?" if example.label is None else visualizer.classes[example.label]
        st.subheader(f"Example {example.index}: true {truth}")
        for m, predictions in enumerate(example.predictions):
            top = ", ".join(f"{name} {p:.1%}" for name, p in predictions)
            st.write(f"Model {m} predicts: {top}")
        if st.button("Explain", key=f"explain_{example.index}"):
            try:
                result = visualizer.explain(example, method, model, **arguments)
                st.session_state[f"result_{example.index}"] = result
            except Exception as err:  # noqa: BLE001
                st.error(f"Could not explain: {err}")
        result = st.session_state.get(f"result_{example.index}")
        if result is not None:
            st.caption(f"{result.method} for class {result.target}")
            for view in result.features:
                st.markdown(f"**{view.name}**: {view.contribution:.0%} of the attribution")
                st.progress(min(1.0, max(0.0, view.contribution)))
                st.html(view.html)
