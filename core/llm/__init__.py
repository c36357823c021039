"""Attribution for text generation: which parts of a prompt made a language model say what
it said (Captum's ``LLMAttribution`` family), and which segments of an image made a
vision-language model say it (``ImageMaskInput``)."""

from .gradient import LLMGradientAttribution
from .image_input import ImageMaskInput
from .inputs import InterpretableInput, TextTemplateInput, TextTokenInput
from .perturbation import LLMAttribution
from .remote import RemoteLLMAttribution, RemoteLLMProvider, VLLMProvider
from .result import LLMAttributionResult

__all__ = [
    "ImageMaskInput",
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
