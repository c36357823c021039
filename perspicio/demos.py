"""The demo models, catalogued once for the app and the command line.

Each :class:`Demo` names a model of one modality, how a page or a command shows it, what is
said while it loads (trained on first use, then cached; see :mod:`perspicio._cache`), and how
it is loaded: lazily, so listing the catalogue imports no model code.

Examples
--------
>>> from perspicio.demos import DEMOS, demo_names
>>> demo_names("text")
['minilm', 'tiny']
>>> DEMOS["efficientnet_lite0"].modality
'image'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Demo:
    """One demo model: its ``name`` (the CLI's ``--model``), ``modality``, ``title`` (how the
    app names it), ``loading`` (what is shown while it loads) and ``load`` (returns it)."""

    name: str
    modality: str
    title: str
    loading: str
    load: Callable[[], Any]


def _efficientnet_lite0() -> Any:
    """A :class:`~perspicio.vision.demo.DemoModel`: model, transform, ImageNet labels."""
    from perspicio.vision.demo import efficientnet_lite0

    return efficientnet_lite0()


def _shapes_detector() -> Any:
    """``(model, class names)``."""
    from perspicio.vision.demo import SHAPES, shapes_detector

    return shapes_detector(), list(SHAPES)


def _shapes_segmenter() -> Any:
    """``(model, class names)``, the background first."""
    from perspicio.vision.demo import SHAPES, shapes_segmenter

    return shapes_segmenter(), ["background", *SHAPES]


def _shapes_clip() -> Any:
    """``(model, tokenizer)``: the shapes dual encoder, explained by captions."""
    from perspicio.vision.demo import ShapesTokenizer, shapes_clip

    return shapes_clip(), ShapesTokenizer()


def _minilm() -> Any:
    """``(model, tokenizer, description)``."""
    from perspicio.text.demo import minilm_sentiment

    model, tokenizer, accuracy = minilm_sentiment()
    return model, tokenizer, f"MiniLM sentiment model ({accuracy:.1%} held-out accuracy)"


def _tiny_bert() -> Any:
    """``(model, tokenizer, description)``."""
    from perspicio.text.demo import tiny_bert

    model, tokenizer = tiny_bert()
    return model, tokenizer, "tiny BERT sentiment model (demo)"


def _breast_cancer() -> Any:
    """A :class:`~perspicio.tabular.demo.TabularDemo`: model, training and held-out rows."""
    from perspicio.tabular.demo import breast_cancer_mlp

    return breast_cancer_mlp()


def _shapes_vlm() -> Any:
    """``(model, processor)``."""
    from perspicio.text.demo_vlm import shapes_vlm

    return shapes_vlm()


def _capital_cities() -> Any:
    """``(model, tokenizer)``."""
    from perspicio.text.demo_lm import capital_cities_lm

    return capital_cities_lm()


#: every demo model, by name, in the order the app and the CLI offer them
DEMOS: dict[str, Demo] = {
    demo.name: demo
    for demo in (
        Demo(
            "efficientnet_lite0",
            "image",
            "EfficientNet-Lite0 (ImageNet)",
            "Loading EfficientNet-Lite0...",
            _efficientnet_lite0,
        ),
        Demo(
            "shapes_detector",
            "image",
            "shapes detector (demo)",
            "Preparing the shapes detector (trained once)...",
            _shapes_detector,
        ),
        Demo(
            "shapes_segmenter",
            "image",
            "shapes segmenter (demo)",
            "Preparing the shapes segmenter (trained once)...",
            _shapes_segmenter,
        ),
        Demo(
            "shapes_clip",
            "image",
            "shapes captions, a dual encoder (demo)",
            "Preparing the shapes dual encoder (trained once, about a minute)...",
            _shapes_clip,
        ),
        Demo(
            "minilm",
            "text",
            "MiniLM sentiment model",
            "Preparing the sentiment model (the first time takes a few minutes)...",
            _minilm,
        ),
        Demo(
            "tiny",
            "text",
            "tiny BERT sentiment model (demo)",
            "Training the tiny sentiment model...",
            _tiny_bert,
        ),
        Demo(
            "breast_cancer",
            "table",
            "breast-cancer MLP (demo)",
            "Training the breast-cancer model...",
            _breast_cancer,
        ),
        Demo(
            "capital_cities",
            "generation",
            "capital-cities GPT-2 (demo)",
            "Training the capital-cities language model (about 90 s, once)...",
            _capital_cities,
        ),
        Demo(
            "shapes_vlm",
            "vision-language",
            "shapes vision-language model (demo)",
            "Training the shapes vision-language model (about a minute, once)...",
            _shapes_vlm,
        ),
    )
}


def demo_names(modality: str) -> list[str]:
    """The names of the demos of one modality (``"image"``, ``"text"``, ``"table"``,
    ``"generation"``, ``"vision-language"``), in catalogue order."""
    return [name for name, demo in DEMOS.items() if demo.modality == modality]


def load_demo(name: str) -> Any:
    """The demo model ``name`` (see :data:`DEMOS` for what each returns)."""
    if name not in DEMOS:
        raise ValueError(f"`name` must be one of {list(DEMOS)}, got {name!r}")
    return DEMOS[name].load()


__all__ = ["DEMOS", "Demo", "demo_names", "load_demo"]
