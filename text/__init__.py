"""perspicio.text: which words made a text model decide?

``text.explain(model, tokenizer, text)`` explains any Hugging Face sequence classifier (or a
plain PyTorch model over token ids) with LayerIntegratedGradients at the embedding layer
and PAD-token baselines by default, groups sub-word tokens into words, and renders the
answer as highlighted HTML.
"""

from .adapters import TextForward, embedding_layer
from .compare import TEXT_METRICS, compare, compare_generation, score_explanations
from .explain import METHODS, explain
from .explanation import TextExplanation, render_html
from .generation import GENERATION_METHODS, explain_generation
from .tokens import baseline_ids, encode, word_groups

__all__ = [
    "METHODS",
    "GENERATION_METHODS",
    "explain_generation",
    "TextExplanation",
    "TextForward",
    "TEXT_METRICS",
    "baseline_ids",
    "compare",
    "compare_generation",
    "embedding_layer",
    "encode",
    "explain",
    "render_html",
    "score_explanations",
    "word_groups",
]
