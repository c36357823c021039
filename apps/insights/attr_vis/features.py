"""The feature classes under Captum's module path (see :mod:`perspicio.insights.features`)."""

from ..features import BaseFeature, GeneralFeature, ImageFeature, TextFeature

__all__ = ["BaseFeature", "GeneralFeature", "ImageFeature", "TextFeature"]
