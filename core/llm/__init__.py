"""Attribution for text generation: which parts of a prompt made a language model say what
it said (Captum's ``LLMAttribution`` family)."""

from .gradient import LLMGradientAttribution
from .inputs import InterpretableInput, TextTemplateInput, TextTokenInput
from .perturbation import LLMAttribution
from .remote import RemoteLLMAttribution, RemoteLLMProvider, VLLMProvider
from .result import LLMAttributionResult

__all__ = [
    "InterpretableInput",
    "LLMAttribution",
    "LLMAttributionResult",
    "LLMGradientAttribution",
    "RemoteLLMAttribution",
    "RemoteLLMProvider",
    "TextTemplateInput",
    "TextTokenInput",
    "VLLMProvider",
]
