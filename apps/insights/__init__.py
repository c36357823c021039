"""perspicio.insights: Captum Insights' explorer over the user's own models and data.

``AttributionVisualizer(models=[model], classes=..., features=[ImageFeature(...)],
dataset=[Batch(inputs, labels=...)], score_func=...)`` lists examples with their top
predictions, filters them by predicted class and by correct / incorrect prediction, and
explains one with any method, feature by feature; ``serve()`` shows it as a web page that
runs in the caller's process (``render()`` in a notebook).
"""

from .features import BaseFeature, FeatureView, GeneralFeature, ImageFeature, TextFeature
from .visualizer import METHOD_ARGUMENTS, AttributionVisualizer, Batch, Example

__all__ = [
    "METHOD_ARGUMENTS",
    "AttributionVisualizer",
    "BaseFeature",
    "Batch",
    "Example",
    "FeatureView",
    "GeneralFeature",
    "ImageFeature",
    "TextFeature",
]
