"""The Explorer page: Insights' explorer over the shapes demo model and held-out images."""

import streamlit as st

from perspicio.insights.ui import explorer


@st.cache_resource(show_spinner="Preparing the explorer (trains the shapes model once)...")
def explorer_demo():
    from perspicio.insights import AttributionVisualizer, Batch, ImageFeature
    from perspicio.vision.demo import SHAPES, shapes_dataset, shapes_model

    images, labels, _ = shapes_dataset(48, seed=7)
    batches = [Batch(images[i : i + 16], labels=labels[i : i + 16]) for i in range(0, 48, 16)]
    return AttributionVisualizer(
        models=[shapes_model()],
        classes=list(SHAPES),
        features=[ImageFeature("image")],
        dataset=batches,
        score_func=lambda out: out.softmax(1),
    )


st.caption("The shapes demo model on held-out images: filter, then explain an example.")
explorer(explorer_demo(), key="explorer")
