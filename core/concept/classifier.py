"""The linear classifiers that turn concept activations into CAVs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ..errors import AttributionValueError


class Classifier:
    """What TCAV needs of a classifier: ``train_and_eval(dataloader, **kwargs)`` trains on
    the ``(activations, concept ids)`` batches of ``dataloader`` and returns statistics (a
    dict, or ``None``); ``weights()`` returns one row of ``F`` weights per class;
    ``classes()`` returns the class (concept id) of each row."""

    def train_and_eval(
        self, dataloader: DataLoader, **kwargs: Any
    ) -> dict | None:  # pragma: no cover
        raise NotImplementedError

    def weights(self) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def classes(self) -> list[int]:  # pragma: no cover - abstract
        raise NotImplementedError


def fit_logistic(x: Tensor, y: Tensor, alpha: float, max_iter: int = 100) -> tuple[Tensor, Tensor]:
    r"""One-vs-rest L2-regularised logistic regression, by L-BFGS in torch on ``x``'s device.

    ``y`` is ``(n, k)`` in {0, 1} (``k`` problems at once). Minimises

    .. math:: \frac1n\sum_i \sum_j \ell\big(y_{ij}, x_i^\top w_j + b_j\big)
              + \frac{\alpha}{2}\lVert W\rVert^2

    on centred features (the bias absorbs the mean). Returns ``W`` ``(k, F)`` and ``b``.
    """
    x = x.detach().float()
    mean = x.mean(0)
    xc = x - mean
    w = torch.zeros(x.shape[1], y.shape[1], device=x.device, requires_grad=True)
    b = torch.zeros(y.shape[1], device=x.device, requires_grad=True)
    y = y.to(x)
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-6,
                                  tolerance_change=1e-9, history_size=20,
                                  line_search_fn="strong_wolfe")  # fmt: skip

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = xc @ w + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum")
        loss = loss / x.shape[0] + 0.5 * alpha * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    w, b = w.detach(), b.detach()
    return w.T.contiguous(), b - mean @ w


class DefaultClassifier(Classifier):
    """A linear classifier trained in torch on the device of the activations: one-vs-rest
    logistic regression with an L2 penalty ``alpha`` (for two concepts one boundary, whose
    weights ``w`` give the rows ``-w`` and ``w``), fitted on a random ``1 - test_split_ratio``
    share of the examples; ``train_and_eval`` returns the accuracy on the rest as
    ``{"accs": tensor}``.

    Parameters
    ----------
    alpha : float
        Strength of the L2 penalty (per example).
    seed : int
        Seed of the train/test split (the result is reproducible).

    Examples
    --------
    >>> import torch
    >>> x = torch.cat([torch.randn(40, 5) + 3, torch.randn(40, 5) - 3])
    >>> batches = [(x[:40], torch.zeros(40, dtype=torch.long)),
    ...            (x[40:], torch.ones(40, dtype=torch.long))]
    >>> clf = DefaultClassifier()
    >>> clf.train_and_eval(batches)["accs"].item()
    1.0
    >>> clf.weights().shape, clf.classes()
    (torch.Size([2, 5]), [0, 1])
    """

    def __init__(self, alpha: float = 0.01, seed: int = 0) -> None:
        if not alpha >= 0:
            raise AttributionValueError(f"`alpha` must be >= 0, got {alpha!r}")
        self.alpha = alpha
        self.seed = seed
        self._weights: Tensor | None = None
        self._classes: list[int] = []

    def train_and_eval(self, dataloader: Any, test_split_ratio: float = 0.33,
                       **kwargs: Any) -> dict[str, Tensor]:  # fmt: skip
        """Fit on the ``(inputs, labels)`` batches of ``dataloader``; the held-out accuracy."""
        pairs = list(dataloader)
        if not pairs:
            raise AttributionValueError("`dataloader` yielded no (activations, labels) batches")
        x = torch.cat([torch.as_tensor(p[0]).reshape(len(p[0]), -1) for p in pairs])
        y = torch.cat([torch.as_tensor(p[1]).reshape(-1) for p in pairs]).to(x.device)
        return self.fit(x, y, test_split_ratio)

    def fit(self, x: Tensor, y: Tensor, test_split_ratio: float = 0.33) -> dict[str, Tensor]:
        """:meth:`train_and_eval` on tensors: ``x`` ``(n, F)``, integer labels ``y`` ``(n,)``."""
        if not 0 <= test_split_ratio < 1:
            raise AttributionValueError(
                f"`test_split_ratio` must be in [0, 1), got {test_split_ratio!r}"
            )
        classes = torch.unique(y)
        if len(classes) < 2:
            raise AttributionValueError(
                "a CAV needs examples of at least two concepts; got only label(s) "
                f"{classes.tolist()}"
            )
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(y), generator=generator).to(y.device)
        n_test = int(test_split_ratio * len(y))
        test, train = order[:n_test], order[n_test:]
        onehot = (y[:, None] == classes[None, :]).float()
        targets = onehot[:, 1:] if len(classes) == 2 else onehot
        w, b = fit_logistic(x[train], targets[train], self.alpha)
        self._weights = torch.cat([-w, w]) if len(classes) == 2 else w
        self._classes = classes.tolist()
        if n_test == 0:
            return {"accs": torch.tensor(float("nan"))}
        logits = x[test].float() @ w.T + b
        if len(classes) == 2:
            predicted = (logits[:, 0] > 0).long()
        else:
            predicted = logits.argmax(1)
        accs = (classes[predicted] == y[test]).float().mean().cpu()
        return {"accs": accs}

    def weights(self) -> Tensor:
        """``(classes, F)``: the CAV of each class."""
        if self._weights is None:
            raise AttributionValueError("the classifier is not trained: call `train_and_eval`")
        return self._weights

    def classes(self) -> list[int]:
        """The concept id of each row of :meth:`weights`."""
        return list(self._classes)
