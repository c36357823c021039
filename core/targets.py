"""What an explanation explains: a target, as an object, and the one way a front end reads
the ``target`` a person gives.

As pytorch-grad-cam keeps its targets (``ClassifierOutputTarget``...), a target is a small
callable on the model's output that returns one score per row: :class:`ClassTarget` (a class
by index), :class:`PredictedClass` (each row's own top class). The image front end adds its
own beside them (a detected object, a segmentation class over a region: see
:mod:`perspicio.vision.targets`). :func:`resolve_class_targets` turns what a person wrote
(nothing, an index, a class name, ``"topk:K"``, one per row) into class indices, with the
same checks and messages in every front end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor


class ClassTarget:
    """The score of one class in a classifier's ``(N, classes)`` output.

    Parameters
    ----------
    index : int
        The class.

    Examples
    --------
    >>> import torch
    >>> ClassTarget(1)(torch.tensor([[0.2, 0.8], [0.6, 0.4]]))
    tensor([0.8000, 0.4000])
    """

    def __init__(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValueError(f"`index` must be a class index (an int >= 0), got {index!r}")
        self.index = index

    def __call__(self, output: Tensor) -> Tensor:
        return output[:, self.index]

    def __repr__(self) -> str:
        return f"ClassTarget({self.index})"


class PredictedClass:
    """The score of each row's own top class (the gradient flows through that score), so a
    method can explain the prediction inside its first forward pass.

    Examples
    --------
    >>> import torch
    >>> PredictedClass()(torch.tensor([[0.2, 0.8], [0.6, 0.4]]))
    tensor([0.8000, 0.6000])
    """

    def __call__(self, output: Tensor) -> Tensor:
        return output.gather(1, output.argmax(1, keepdim=True)).squeeze(1)

    def __repr__(self) -> str:
        return "PredictedClass()"


def parse_target(text: str | None) -> int | str | None:
    """A target typed by a person (a form, the command line): empty is None (the
    prediction), digits a class index, anything else a class name.

    Examples
    --------
    >>> parse_target(" 3 "), parse_target("cat"), parse_target("")
    (3, 'cat', None)
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


def _names(labels: Sequence[str] | Mapping[int, str] | None) -> dict[str, int]:
    """Class name -> index (the first index of a repeated name)."""
    pairs = labels.items() if isinstance(labels, Mapping) else enumerate(labels or ())
    names: dict[str, int] = {}
    for index, name in pairs:
        names.setdefault(name, index)
    return names


def resolve_class_targets(
    target: Any,
    scores: Tensor | None,
    labels: Sequence[str] | Mapping[int, str] | None = None,
    *,
    rows: str | None = "rows",
) -> list[int]:
    """The class indices a ``target`` names, checked against the model's scores.

    Parameters
    ----------
    target : None, int, class name, ``"topk:K"`` or a list of them
        None: the predicted class (each row's). ``"topk:K"``: the K classes of highest
        score (of the first row). A list: one per row, or with ``rows=None`` several
        targets of the one input.
    scores : tensor ``(N, classes)`` or None
        The model's scores (None where the prediction is not known yet: then ``target``
        must name its classes and is not checked against their number).
    labels : list of names, or a dict index -> name, optional
        The class names a ``target`` may use.
    rows : str or None
        What the rows are called in messages (``"texts"``, ``"rows"``); None: there is one
        input, and a list of targets is several targets of it.

    Returns
    -------
    list of int
        One class per row (or, with ``rows=None``, per explained target).

    Examples
    --------
    >>> import torch
    >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    >>> resolve_class_targets(None, scores)
    [1, 0]
    >>> resolve_class_targets("b", scores, ["a", "b", "c"])
    [1, 1]
    >>> resolve_class_targets("topk:2", scores[:1], rows=None)
    [1, 2]
    """
    n_classes = None if scores is None else scores.shape[1]
    if target is None:
        if scores is None:
            raise ValueError("`target` None (the prediction) needs the model's scores")
        return scores.argmax(1).tolist() if rows is not None else [int(scores[0].argmax())]
    if isinstance(target, str) and (m := re.fullmatch(r"topk:(\d+)", target)):
        if scores is None:
            raise ValueError(f"`target` {target!r} needs the model's scores")
        return scores[0].topk(min(int(m.group(1)), n_classes)).indices.tolist()
    if rows is None:
        items = list(target) if isinstance(target, (list, tuple)) else [target]
    else:
        n = scores.shape[0] if scores is not None else 1
        items = list(target) if isinstance(target, (list, tuple)) else [target] * n
        if len(items) != n:
            raise ValueError(f"`target` has {len(items)} entries for {n} {rows}")
    names = _names(labels)
    out = []
    for t in items:
        if isinstance(t, str):
            if t not in names:
                shown = sorted(names)[:8] + (["..."] if len(names) > 8 else [])
                known = f"its names: {', '.join(shown)}" if names else "its classes have no names"
                raise ValueError(f"`target` {t!r} is not a class name of the model ({known})")
            t = names[t]
        if (
            isinstance(t, bool)
            or not isinstance(t, int)
            or t < 0
            or (n_classes is not None and t >= n_classes)
        ):
            raise ValueError(
                f"`target` {t!r} is not a class index in [0, {n_classes or 'classes'})"
            )
        out.append(t)
    return out


__all__ = ["ClassTarget", "PredictedClass", "parse_target", "resolve_class_targets"]
