"""Helpers shared by the metrics: replicating a batch and its per-example arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from ..errors import AttributionValueError


def _per_example(
    value: Any, n: int, rows: Callable[[Tensor], Tensor], take: Callable[[list], list], args: bool
) -> Any:
    """``value`` with ``rows`` applied to each tensor of ``n`` rows in it (the value itself or
    the items of a tuple) and ``take`` to a list of ``n`` items; everything else as it is.
    With ``args`` the value is ``additional_forward_args``: a tuple or list of arguments,
    of which the tensors are per-example (as Captum expands them), never the list itself."""

    def tensor(t: Any) -> Any:
        is_rows = isinstance(t, Tensor) and t.dim() > 0 and t.shape[0] == n
        return rows(t) if is_rows else t

    if isinstance(value, tuple) or (args and isinstance(value, list)):
        return type(value)(tensor(v) for v in value)
    if isinstance(value, list) and len(value) == n:
        return take(value)
    return tensor(value)


def expand_per_example(value: Any, n: int, m: int, args: bool = False) -> Any:
    """Replicate a per-example argument (a tensor with ``n`` rows, a list of ``n`` items, or a
    tuple holding such tensors next to other values) ``m`` times, in ``m`` blocks, like the
    inputs; pass everything else through. ``args=True`` reads ``value`` as
    ``additional_forward_args`` (a tuple or list of arguments).

    Examples
    --------
    >>> import torch
    >>> expand_per_example((torch.tensor([1, 2]), 0.5), n=2, m=2)
    (tensor([1, 2, 1, 2]), 0.5)
    >>> expand_per_example([0, 1], n=2, m=2), expand_per_example([0, 1], n=2, m=2, args=True)
    ([0, 1, 0, 1], [0, 1])
    """
    if m == 1:
        return value
    return _per_example(
        value, n, lambda t: t.repeat((m,) + (1,) * (t.dim() - 1)), lambda items: items * m, args
    )


def select_examples(value: Any, n: int, index: slice, args: bool = False) -> Any:
    """The rows ``index`` of a per-example argument (as :func:`expand_per_example` reads
    it); everything else as it is.

    Examples
    --------
    >>> import torch
    >>> select_examples((torch.arange(4), "mean"), n=4, index=slice(1, 3))
    (tensor([1, 2]), 'mean')
    """
    return _per_example(value, n, lambda t: t[index], lambda items: items[index], args)


def example_groups(max_examples_per_batch: int | None, n: int) -> list[slice]:
    """The examples split in groups of at most ``max_examples_per_batch`` (all of them in
    one group when one perturbation of every example fits in a batch)."""
    check_max_examples(max_examples_per_batch)
    size = n if max_examples_per_batch is None else min(n, max_examples_per_batch)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def check_max_examples(max_examples_per_batch: int | None) -> None:
    if max_examples_per_batch is None:
        return
    if isinstance(max_examples_per_batch, bool) or not isinstance(max_examples_per_batch, int):
        raise AttributionValueError(
            f"`max_examples_per_batch` must be a positive int, got {max_examples_per_batch!r}"
        )
    if max_examples_per_batch < 1:
        raise AttributionValueError(
            f"`max_examples_per_batch` must be positive, got {max_examples_per_batch}"
        )


def samples_per_chunk(max_examples_per_batch: int | None, n: int, n_samples: int) -> int:
    """How many perturbation samples of the ``n`` examples fit in one batch (at least one;
    :func:`example_groups` splits the examples first when one does not fit)."""
    check_max_examples(max_examples_per_batch)
    if max_examples_per_batch is None:
        return n_samples
    return max(1, max_examples_per_batch // n)


def flat_concat(values: tuple[Tensor, ...]) -> Tensor:
    """Every example's values of all tensors as one row: ``(n, total)``."""
    import torch

    return torch.cat([v.reshape(v.shape[0], -1) for v in values], dim=1)


def require_pandas():
    """pandas, or an ImportError that says how to get it."""
    try:
        import pandas
    except ImportError as err:  # pragma: no cover - pandas ships with every extra
        raise ImportError(
            "this metric returns a pandas DataFrame; install pandas "
            "(pip install pandas, or perspicio[tabular])"
        ) from err
    return pandas


def average_ranks(values: Tensor) -> Tensor:
    """1-based ranks of each row, ties sharing their mean rank (scipy's ``rankdata``), as
    float64.

    Examples
    --------
    >>> import torch
    >>> average_ranks(torch.tensor([[3.0, 1.0, 3.0, 2.0]])).tolist()
    [[3.5, 1.0, 3.5, 2.0]]
    """
    import torch

    v = values.detach()
    n, d = v.shape
    ordered, order = v.sort(1)
    new = torch.ones_like(ordered, dtype=torch.bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = new.long().cumsum(1) - 1
    position = torch.arange(1, d + 1, dtype=torch.float64, device=v.device).expand(n, d)
    sums = torch.zeros(n, d, dtype=torch.float64, device=v.device).scatter_add_(1, group, position)
    counts = torch.zeros_like(sums).scatter_add_(1, group, torch.ones_like(position))
    mean = (sums / counts.clamp(min=1)).gather(1, group)
    return torch.empty_like(mean).scatter_(1, order, mean)


def perturbed_explanations(
    explain: Callable[..., Any],
    inputs: Tensor,
    noise: Tensor,
    explain_kwargs: dict[str, Any],
    chunk: int,
):
    """Explain ``inputs + noise`` (``noise``: ``(N, S, ...)``, ``S`` samples per example),
    ``chunk`` samples of every example per call; yields ``(samples, noisy, explanations)``
    with ``noisy`` and ``explanations`` ``(m, N, ...)``. Per-example keyword arguments
    (targets, baselines, the tensors among ``additional_forward_args``) are replicated with
    the copies."""
    import torch

    from .._engine.inputs import as_tuple

    n, s = noise.shape[:2]
    for start in range(0, s, chunk):
        sl = slice(start, min(s, start + chunk))
        m = sl.stop - sl.start
        noisy = inputs.unsqueeze(0) + noise[:, sl].transpose(0, 1).to(inputs)
        kw = {
            k: expand_per_example(v, n, m, k == "additional_forward_args")
            for k, v in explain_kwargs.items()
        }
        flat = noisy.reshape((m * n,) + inputs.shape[1:])
        outs, _ = as_tuple(explain(flat, **kw), "explanation")
        out = outs[0]
        yield sl, noisy, torch.as_tensor(out).reshape((m, n) + out.shape[1:])


def check_features_in_step(features_in_step: int, n_features: int) -> None:
    """``features_in_step``: a positive int, at most the number of features."""
    from .._engine.inputs import check_positive_int

    check_positive_int(features_in_step, "features_in_step")
    if features_in_step > n_features:
        raise AttributionValueError(
            f"`features_in_step` must be at most the number of features ({n_features}), got "
            f"{features_in_step}"
        )


def check_images(inputs: Tensor) -> None:
    """The metrics of patches and superpixels take images ``(N, C, H, W)``."""
    if not isinstance(inputs, Tensor) or inputs.dim() != 4:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise AttributionValueError(f"`inputs` must be images (N, C, H, W), got {shape}")
