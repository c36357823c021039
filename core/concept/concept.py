"""Concepts: named sets of examples (images of stripes, sentences about sport) whose
activations a model's layers can be asked about."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import AttributionTypeError


class Concept:
    """A concept: an integer ``id`` (its label when concepts are told apart), a ``name``
    and the examples that show it, as an iterable of input batches (a ``DataLoader``, a
    list of tensors...).

    Two concepts are the same only if they are the same object; an ``id`` must name one
    concept in an interpreter.

    Examples
    --------
    >>> import torch
    >>> striped = Concept(0, "striped", [torch.rand(8, 3, 32, 32)])
    >>> striped.identifier
    'striped-0'
    """

    def __init__(self, id: int, name: str, data_iter: Iterable[Any] | None) -> None:
        if isinstance(id, bool) or not isinstance(id, int):
            raise AttributionTypeError(f"`id` must be an int, got {type(id).__name__} {id!r}")
        if not isinstance(name, str):
            raise AttributionTypeError(f"`name` must be a str, got {type(name).__name__}")
        self.id = id
        self.name = name
        self.data_iter = data_iter

    @property
    def identifier(self) -> str:
        """``"<name>-<id>"``: names the concept's stored activations."""
        return f"{self.name}-{self.id}"

    def __repr__(self) -> str:
        return f"Concept({self.id}, {self.name!r})"


def concepts_to_str(concepts: Sequence[Concept]) -> str:
    """The key of an experimental set: its concepts' ids joined by ``-``.

    Examples
    --------
    >>> concepts_to_str([Concept(0, "a", None), Concept(3, "b", None)])
    '0-3'
    """
    return "-".join(str(c.id) for c in concepts)


class ConceptInterpreter:
    """What interprets a model through concepts: built on the model, it answers
    :meth:`interpret` (see :class:`~perspicio.core.concept.TCAV`)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def interpret(self, inputs: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        """How much each concept matters to the model's output for ``inputs``."""
        raise NotImplementedError(f"{type(self).__name__} must define `interpret`")
