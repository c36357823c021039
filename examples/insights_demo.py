"""The Insights explorer on the shapes demo model, served from this process.

.venv/bin/python examples/insights_demo.py        # then open the printed address
"""

from perspicio.insights import AttributionVisualizer, Batch, ImageFeature
from perspicio.vision.demo import SHAPES, shapes_dataset, shapes_model


def build() -> AttributionVisualizer:
    images, labels, _ = shapes_dataset(48, seed=7)
    return AttributionVisualizer(
        models=[shapes_model()], classes=list(SHAPES), features=[ImageFeature("image")],
        dataset=[Batch(images[i : i + 16], labels=labels[i : i + 16]) for i in range(0, 48, 16)],
        score_func=lambda out: out.softmax(1),
    )  # fmt: skip


if __name__ == "__main__":
    visualizer = build()
    print(visualizer.serve())
    visualizer.serve(blocking=True)
