"""Interpretable inputs: a prompt seen as a few features that can be switched off.

An attribution method works on an *interpretable* tensor of shape ``(1, F)`` (all ones:
every feature present); :meth:`InterpretableInput.to_model_input` turns a perturbed row
(0 = the feature replaced by its baseline) back into what the model reads: a string for a
:class:`TextTemplateInput`, token ids for a :class:`TextTokenInput`.
"""

from __future__ import annotations

import string
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError


class InterpretableInput(ABC):
    """A model input described by ``F`` interpretable features.

    Subclasses define :meth:`to_tensor` (the unperturbed features, ``(1, F)`` ones),
    :meth:`to_model_input` (the model's input for a perturbed row) and :attr:`values` (one
    readable name per feature).
    """

    #: one readable string per displayed value (a token, a slot of a template)
    values: list[str]
    #: the number of interpretable features ``F`` (grouped slots share one)
    n_itp_features: int

    def to_tensor(self) -> Tensor:
        """``(1, F)`` ones: every feature present."""
        return torch.ones(1, self.n_itp_features)

    @abstractmethod
    def to_model_input(self, perturbed_tensor: Tensor | None = None) -> Any:
        """The model's input with the features where ``perturbed_tensor`` is 0 replaced by
        their baselines (the unperturbed input when ``perturbed_tensor`` is None)."""

    def format_attr(self, itp_attr: Tensor) -> Tensor:
        """Attributions per interpretable feature, laid out per displayed value."""
        return itp_attr


def _row(perturbed: Tensor | None, n: int) -> list[bool]:
    if perturbed is None:
        return [True] * n
    flat = perturbed.reshape(-1)
    if flat.numel() != n:
        raise AttributionValueError(
            f"`perturbed_tensor` has {flat.numel()} entries for {n} interpretable features"
        )
    return [bool(v) for v in flat.tolist()]


class TextTemplateInput(InterpretableInput):
    """A prompt made from a template and values for its slots; each slot is a feature.

    Parameters
    ----------
    template : str or callable
        A ``str.format`` template (``"{} lives in {}"`` or ``"{name} lives in {city}"``), or
        a function of the values returning the prompt.
    values : list of str or dict of str
        The slots' values (positional or by name).
    baselines : list, dict or callable, optional
        What a slot becomes when its feature is switched off: the same form as ``values``,
        or a function returning it (called at each perturbation, so it may sample). The
        empty string by default.
    mask : list or dict of int, optional
        Groups slots into features: slots with the same id are switched together.

    Examples
    --------
    >>> from perspicio.core import TextTemplateInput
    >>> import torch
    >>> inp = TextTemplateInput("{} lives in {}.", ["Ada", "Paris"], baselines=["Bob", "Rome"])
    >>> inp.to_model_input()
    'Ada lives in Paris.'
    >>> inp.to_model_input(torch.tensor([[1.0, 0.0]]))
    'Ada lives in Rome.'
    """

    def __init__(
        self,
        template: str | Callable[..., str],
        values: Sequence[str] | dict[str, str],
        baselines: Sequence[str] | dict[str, str] | Callable[[], Any] | None = None,
        mask: Sequence[int] | dict[str, int] | None = None,
    ) -> None:
        if not isinstance(template, str) and not callable(template):
            raise AttributionTypeError(
                f"`template` must be a format string or a callable, got {type(template).__name__}"
            )
        self.keys: list[str] | None = list(values) if isinstance(values, dict) else None
        if isinstance(values, str) or not isinstance(values, (list, tuple, dict)):
            raise AttributionTypeError(
                f"`values` must be a list or a dict of strings, got {type(values).__name__}"
            )
        self.raw_values = [values[k] for k in self.keys] if self.keys else list(values)
        if not self.raw_values:
            raise AttributionValueError("`values` is empty: a template needs a slot to explain")
        if isinstance(template, str):
            self._check_slots(template)
        self.template = template
        if baselines is None:  # switched-off slots become empty
            baselines = dict.fromkeys(self.keys, "") if self.keys else [""] * len(self.raw_values)
        self.baselines = baselines if callable(baselines) else self._as_list(baselines, "baselines")
        self.mask = mask
        if mask is None:
            self.formatted_mask = list(range(len(self.raw_values)))
        else:
            ids = self._as_list(mask, "mask")
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise AttributionTypeError(f"`mask` must hold ints, got {ids!r}")
            order = {m: j for j, m in enumerate(sorted(set(ids)))}
            self.formatted_mask = [order[i] for i in ids]
        self.n_itp_features = max(self.formatted_mask) + 1
        self.values = [str(v) for v in self.raw_values]

    def _as_list(self, given: Any, name: str) -> list:
        if self.keys is not None:
            if not isinstance(given, dict):
                raise AttributionTypeError(
                    f"`{name}` must be a dict like `values` (slots {self.keys}), "
                    f"got {type(given).__name__}"
                )
            missing = [k for k in self.keys if k not in given]
            if missing:
                raise AttributionValueError(f"`{name}` lacks the slot(s) {missing}")
            return [given[k] for k in self.keys]
        if isinstance(given, str) or not isinstance(given, (list, tuple)):
            raise AttributionTypeError(
                f"`{name}` must be a list like `values`, got {type(given).__name__}"
            )
        if len(given) != len(self.raw_values):
            raise AttributionValueError(
                f"`{name}` has {len(given)} entries for {len(self.raw_values)} values"
            )
        return list(given)

    def _check_slots(self, template: str) -> None:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        if self.keys is None:
            if any(f for f in fields):
                raise AttributionValueError(
                    f"`template` {template!r} names its slots {fields}; give `values` as a dict"
                )
            if len(fields) != len(self.raw_values):
                raise AttributionValueError(
                    f"`template` {template!r} has {len(fields)} slot(s) but `values` has "
                    f"{len(self.raw_values)}"
                )
        elif set(fields) != set(self.keys):
            raise AttributionValueError(
                f"`template` {template!r} has the slots {sorted(set(fields))} but `values` "
                f"names {sorted(self.keys)}"
            )

    def to_model_input(self, perturbed_tensor: Tensor | None = None) -> str:
        """The prompt, with switched-off slots replaced by their baselines."""
        present = _row(perturbed_tensor, self.n_itp_features)
        base = self.baselines
        if callable(base):
            base = self._as_list(base(), "baselines")
        chosen = [
            v if present[m] else b for v, b, m in zip(self.raw_values, base, self.formatted_mask)
        ]
        if callable(self.template):
            return (
                self.template(**dict(zip(self.keys, chosen)))
                if self.keys
                else self.template(*chosen)
            )
        if self.keys is not None:
            return self.template.format(**dict(zip(self.keys, chosen)))
        return self.template.format(*chosen)

    def format_attr(self, itp_attr: Tensor) -> Tensor:
        """Attributions per slot (features shared by grouped slots are repeated)."""
        if self.mask is None:
            return itp_attr
        index = torch.tensor(self.formatted_mask, device=itp_attr.device)
        return itp_attr.index_select(-1, index)


class TextTokenInput(InterpretableInput):
    """A prompt tokenized by ``tokenizer``; each token is a feature.

    Parameters
    ----------
    text : str
        The prompt.
    tokenizer : tokenizer
        Anything with ``encode(text, return_tensors="pt")``, ``convert_ids_to_tokens`` and
        ``convert_tokens_to_ids`` (a Hugging Face tokenizer).
    baselines : int or str, default 0
        The token id (or token) that replaces a switched-off token.
    skip_tokens : list of int or str, optional
        Tokens that are not features (kept as they are, e.g. a beginning-of-sequence token).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import TextTokenInput
    >>> from perspicio.core.llm.demo import WordTokenizer
    >>> tok = WordTokenizer(["<pad>", "<bos>", "the", "cat", "sat"], bos="<bos>")
    >>> inp = TextTokenInput("the cat sat", tok, skip_tokens=["<bos>"])
    >>> inp.values
    ['the', 'cat', 'sat']
    >>> inp.to_model_input(torch.tensor([[1.0, 0.0, 1.0]])).tolist()
    [[2, 3, 0, 5]]
    """

    def __init__(
        self,
        text: str,
        tokenizer: Any,
        baselines: int | str = 0,
        skip_tokens: Sequence[int] | Sequence[str] | None = None,
    ) -> None:
        if not isinstance(text, str):
            raise AttributionTypeError(f"`text` must be a str, got {type(text).__name__}")
        if not text.strip():
            raise AttributionValueError("`text` is empty: there is no prompt to explain")
        self.tokenizer = tokenizer
        ids = tokenizer.encode(text, return_tensors="pt")
        ids = torch.as_tensor(ids)
        self.inp_tensor = ids if ids.dim() == 2 else ids.unsqueeze(0)
        if isinstance(baselines, str):
            baselines = tokenizer.convert_tokens_to_ids(baselines)
        if isinstance(baselines, bool) or not isinstance(baselines, int):
            raise AttributionTypeError(
                f"`baselines` must be a token id or a token, got {type(baselines).__name__}"
            )
        self.baselines = baselines
        skip = list(skip_tokens or [])
        skip = [tokenizer.convert_tokens_to_ids(s) if isinstance(s, str) else s for s in skip]
        self.skip_tokens = skip
        ids_row = self.inp_tensor[0]
        self.itp_mask = (
            ~torch.isin(ids_row, torch.tensor(skip, dtype=ids_row.dtype)) if skip else None
        )
        self.itp_tensor = ids_row[self.itp_mask] if self.itp_mask is not None else ids_row
        if self.itp_tensor.numel() == 0:
            raise AttributionValueError(
                f"`text` {text!r} has no token left to explain after `skip_tokens` {skip}"
            )
        self.values = list(tokenizer.convert_ids_to_tokens(self.itp_tensor.tolist()))
        self.n_itp_features = len(self.values)

    def to_model_input(self, perturbed_tensor: Tensor | None = None) -> Tensor:
        """Token ids ``(1, L)``; switched-off tokens become ``baselines``."""
        if perturbed_tensor is None:
            return self.inp_tensor
        present = torch.tensor(_row(perturbed_tensor, self.n_itp_features))
        itp = torch.where(
            present, self.itp_tensor, torch.full_like(self.itp_tensor, self.baselines)
        )
        if self.itp_mask is None:
            return itp.unsqueeze(0)
        out = self.inp_tensor[0].clone()
        out[self.itp_mask] = itp
        return out.unsqueeze(0)
