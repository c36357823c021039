"""The explorer page (a Streamlit script) over the visualizer served in this process."""

import streamlit as st

from perspicio.insights.server import current_visualizer
from perspicio.insights.ui import explorer

st.set_page_config(page_title="perspicio insights", layout="wide")
st.title("perspicio insights")
visualizer = current_visualizer()
if visualizer is None:
    st.info("No visualizer is being served: call AttributionVisualizer.serve().")
    st.stop()
explorer(visualizer)
