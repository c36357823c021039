"""``tabular.explain`` and ``tabular.global_importance``: the one-call forms of
:class:`~perspicio.tabular.Explainer`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from .explainer import Explainer
from .explanation import TabularExplanation

#: Without a ``background``, the explained rows stand for the reference population only
#: when there are at least this many of them.
MIN_POPULATION = 50


def _row_count(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) == 0:
        raise TypeError(
            f"`X` must be a pandas DataFrame, a numpy array or a tensor, got {type(X).__name__}"
        )
    return 1 if len(shape) == 1 else int(shape[0])


def explain(
    model: Any,
    X: Any,
    *,
    background: Any = None,
    target: int | list[int] | None = None,
    **kwargs: Any,
) -> TabularExplanation:
    """Explain the scores of a table's rows in terms of its columns (or column groups),
    against a reference population.

    ``tabular.explain(model, rows, background=X_train)`` is
    ``tabular.Explainer(model, X_train).explain(rows)``; every keyword of
    :class:`Explainer` is accepted (``method``, ``baseline``, ``groups``, ``preprocessor``,
    ``feature_names``, ``n_samples``, ``max_background``, ``seed``...).

    Parameters
    ----------
    model : torch.nn.Module or callable
    X : DataFrame, array or tensor ``(N, F)``
        The rows to explain.
    background : DataFrame, array or tensor, optional
        The reference population (training data, or a sample of it). Without it, ``X``
        itself stands for the population if it has at least ``MIN_POPULATION`` (50) rows,
        with a warning, since each row's explanation then depends on the other rows; with
        fewer rows (a single patient, say) a ``ValueError`` asks for a background.
    target : None, int or one per row
        For classifiers; None explains each row's predicted class.

    Examples
    --------
    >>> import torch
    >>> from perspicio import tabular
    >>> net = torch.nn.Linear(3, 1)
    >>> X_train = torch.randn(200, 3)
    >>> exp = tabular.explain(net, X_train[:1], background=X_train)
    >>> exp.background
    'the mean of the background (200 rows)'
    """
    if background is None:
        n = _row_count(X)
        if n < MIN_POPULATION:
            raise ValueError(
                f"`background` is needed: {n} row(s) are too few to stand for a reference "
                "population, and a row explained against itself gets zero attributions. Pass "
                "the training data (or a sample of it): "
                "tabular.explain(model, rows, background=X_train)"
            )
        warnings.warn(
            f"no `background` given: the {n} explained rows stand for the reference "
            "population, so each row's explanation depends on the others; pass "
            "background=X_train to explain against the training data",
            UserWarning,
            stacklevel=2,
        )
        background = X
        kwargs.setdefault("background_name", "the explained rows")
    return Explainer(model, background, **kwargs).explain(X, target=target)


def global_importance(
    model: Any,
    X: Any,
    *,
    background: Any = None,
    target: int | None = None,
    batch_size: int = 512,
    engine: str = "local",
    output: str | Path | None = None,
    concurrency: int = 2,
    show_progress: bool = True,
    **kwargs: Any,
) -> TabularExplanation:
    """Explain every row of ``X`` against ``background`` (default: ``X`` itself, the usual
    reference when a whole population is summarised) and return one explanation over all
    of them: ``.global_importance()`` is the mean absolute attribution per feature.

    See :meth:`Explainer.global_importance` for ``batch_size``, ``engine``, ``output`` and
    ``concurrency``; other keywords go to :class:`Explainer`.

    Examples
    --------
    >>> import torch
    >>> from perspicio import tabular
    >>> net = torch.nn.Linear(3, 1)
    >>> report = tabular.global_importance(net, torch.randn(50, 3), batch_size=20,
    ...                                    show_progress=False)
    >>> report.attributions.shape
    torch.Size([50, 3])
    """
    if background is None:
        _row_count(X)
        background = X
        kwargs.setdefault("background_name", "the explained rows")
    explainer = Explainer(model, background, **kwargs)
    return explainer.global_importance(
        X,
        target=target,
        batch_size=batch_size,
        engine=engine,
        output=output,
        concurrency=concurrency,
        show_progress=show_progress,
    )
