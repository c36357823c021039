"""Attribution for a model served elsewhere: a provider returns generated text and the
log-probabilities of a target after a prompt (a vLLM server through its OpenAI-compatible
API, or any :class:`RemoteLLMProvider`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..attribution import Attribution
from ..errors import AttributionValueError
from . import _common as C
from .inputs import InterpretableInput
from .perturbation import LLMAttribution


class RemoteLLMProvider(ABC):
    """What :class:`RemoteLLMAttribution` needs from a served model."""

    api_url: str

    @abstractmethod
    def generate(self, prompt: str, **gen_args: Any) -> str:
        """The model's continuation of ``prompt``."""

    @abstractmethod
    def get_logprobs(
        self, input_prompt: str, target_str: str, tokenizer: Any = None
    ) -> list[float]:
        """``log p`` of each token of ``target_str`` after ``input_prompt``."""


class VLLMProvider(RemoteLLMProvider):
    """A vLLM server through its OpenAI-compatible completions API (needs ``openai``).

    Parameters
    ----------
    api_url : str
        The server's base URL (``http://host:8000/v1``).
    model_name : str, optional
        The served model; the first one the server lists by default.
    api_key : str, default "EMPTY"
    """

    def __init__(self, api_url: str, model_name: str | None = None, api_key: str = "EMPTY") -> None:
        if not isinstance(api_url, str) or not api_url.strip():
            raise AttributionValueError("API URL is required: `api_url` is empty")
        self.api_url = api_url
        try:
            import openai
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "VLLMProvider needs the `openai` package: pip install openai"
            ) from err
        try:
            self.client = openai.OpenAI(base_url=api_url, api_key=api_key)
        except ConnectionError as err:
            raise ConnectionError(f"Failed to connect to vLLM API at {api_url}: {err}") from err
        if model_name is None:
            models = self.client.models.list().data
            if not models:
                raise AttributionValueError(f"No models available on the vLLM server {api_url}")
            model_name = models[0].id
        self.model_name = model_name

    def generate(self, prompt: str, **gen_args: Any) -> str:
        """The server's completion of ``prompt`` (``max_new_tokens`` is sent as
        ``max_tokens``)."""
        if "max_new_tokens" in gen_args:
            gen_args["max_tokens"] = gen_args.pop("max_new_tokens")
        try:
            response = self.client.completions.create(
                model=self.model_name, prompt=prompt, **gen_args
            )
        except ConnectionError as err:
            raise ConnectionError(f"Failed to connect to vLLM API: {err}") from err
        if not getattr(response, "choices", None):
            raise KeyError("API response missing expected 'choices' data")
        return response.choices[0].text

    def get_logprobs(
        self, input_prompt: str, target_str: str, tokenizer: Any = None
    ) -> list[float]:
        """Each target token's log-probability, read from the server's prompt log-probs of
        ``input_prompt + target_str``."""
        if tokenizer is None:
            raise AttributionValueError("Tokenizer is required to count the target's tokens")
        if not target_str:
            raise AttributionValueError("Target string cannot be empty")
        n = len(tokenizer.encode(target_str, add_special_tokens=False))
        try:
            response = self.client.completions.create(
                model=self.model_name,
                prompt=input_prompt + target_str,
                temperature=0.0,
                max_tokens=1,
                extra_body={"prompt_logprobs": 0},
            )
        except ConnectionError as err:
            raise ConnectionError(
                f"Failed to connect to vLLM API when getting logprobs: {err}"
            ) from err
        choices = getattr(response, "choices", None)
        prompt_logprobs = getattr(choices[0], "prompt_logprobs", None) if choices else None
        if not prompt_logprobs:
            raise KeyError("API response missing 'prompt_logprobs' data")
        entries = [e for e in prompt_logprobs if e is not None]
        if any(not e for e in entries):
            raise AttributionValueError("Empty probability data in the API's prompt_logprobs")
        if len(entries) < n:
            raise AttributionValueError(
                f"Not enough logprobs received: {len(entries)} for {n} target tokens"
            )
        try:
            return [float(next(iter(e.values()))["logprob"]) for e in entries[-n:]]
        except (KeyError, TypeError, AttributeError) as err:
            raise IndexError(f"Unexpected format in log probability data: {err}") from err


class _PlaceholderModel:
    """Stands for the remote model where an attribution method needs a forward function."""

    def __init__(self) -> None:
        self.device: torch.device | str = torch.device("cpu")

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        return 0


class RemoteLLMAttribution(LLMAttribution):
    """:class:`LLMAttribution` for a model behind a :class:`RemoteLLMProvider`: every
    distinct perturbed prompt is sent once.

    Parameters
    ----------
    attr_method : perturbation method
        Built on ``RemoteLLMAttribution.placeholder_model``.
    tokenizer : tokenizer
        The served model's tokenizer (counts and names the target's tokens).
    provider : RemoteLLMProvider
    attr_target : {"log_prob", "prob"}, default "log_prob"
    """

    placeholder_model = _PlaceholderModel()

    def __init__(
        self,
        attr_method: Attribution,
        tokenizer: Any,
        provider: RemoteLLMProvider,
        attr_target: str = "log_prob",
    ) -> None:
        super().__init__(attr_method, tokenizer, attr_target)
        if not hasattr(provider, "get_logprobs") or not hasattr(provider, "generate"):
            raise AttributionValueError(
                "`provider` must offer generate() and get_logprobs(), got "
                f"{type(provider).__name__}"
            )
        self.provider = provider
        self.scoring = "remote"

    def _target(
        self, inp: InterpretableInput, target: Any, skip_tokens: Any, gen_args: dict | None
    ) -> Tensor:
        skip = C.skip_ids(self.tokenizer, skip_tokens)

        def generate() -> Tensor:
            text = self.provider.generate(C.prompt_text(inp, self.tokenizer), **(gen_args or {}))
            return torch.as_tensor(self.tokenizer.encode(text, add_special_tokens=False))

        return C.target_ids(target, self.tokenizer, skip, generate)

    def _scorer(self, inp: InterpretableInput, target: Tensor, rows: int | None) -> Callable:
        target_str = self.tokenizer.decode(target)

        def score_rows(feature_rows: list[Tensor]) -> Tensor:
            out = []
            for r in feature_rows:
                lp = self.provider.get_logprobs(
                    C.prompt_text(inp, self.tokenizer, r[None]), target_str, self.tokenizer
                )
                if len(lp) != target.numel():
                    raise AttributionValueError(
                        f"the provider returned {len(lp)} log-probabilities for a target of "
                        f"{target.numel()} tokens"
                    )
                out.append(torch.tensor(lp, dtype=torch.float32))
            return torch.stack(out)

        return score_rows
