"""Captum's module path for the Insights features (``captum.insights.attr_vis.features``),
so tutorial imports keep working after replacing ``captum.insights`` by
``perspicio.insights``."""

from ..visualizer import AttributionVisualizer, Batch

__all__ = ["AttributionVisualizer", "Batch"]
