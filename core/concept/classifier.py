"""The linear classifiers that turn concept activations into CAVs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ..errors import AttributionValueError
from ._logistic import fit_sets


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


#: memory for the Newton systems of the sets solved together
SOLVE_BYTES = 256 << 20


class DefaultClassifier(Classifier):
    """A linear classifier trained in torch on the device of the activations: one-vs-rest
    logistic regression with an L2 penalty ``alpha`` (for two concepts one boundary, whose
    weights ``w`` give the rows ``-w`` and ``w``), fitted exactly (Newton's method in the
    dual, :mod:`perspicio.core.concept._logistic`) on a random ``1 - test_split_ratio``
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

    def train_and_eval(
        self, dataloader: Any, test_split_ratio: float = 0.33, **kwargs: Any
    ) -> dict[str, Tensor]:
        """Fit on the ``(inputs, labels)`` batches of ``dataloader``; the held-out accuracy."""
        pairs = list(dataloader)
        if not pairs:
            raise AttributionValueError("`dataloader` yielded no (activations, labels) batches")
        x = torch.cat([torch.as_tensor(p[0]).reshape(len(p[0]), -1) for p in pairs])
        y = torch.cat([torch.as_tensor(p[1]).reshape(-1) for p in pairs]).to(x.device)
        return self.fit(x, y, test_split_ratio)

    def fit(self, x: Tensor, y: Tensor, test_split_ratio: float = 0.33) -> dict[str, Tensor]:
        """:meth:`train_and_eval` on tensors: ``x`` ``(n, F)``, integer labels ``y`` ``(n,)``."""
        ((weights, classes, stats),) = self.fit_sets(
            x, [torch.arange(len(y))], [y], test_split_ratio
        )
        self._weights, self._classes = weights, classes
        return stats

    def fit_sets(
        self,
        activations: Tensor,
        indices: list[Tensor],
        labels: list[Tensor],
        test_split_ratio: float = 0.33,
        gram: Tensor | None = None,
    ) -> list[tuple]:
        """Train one classifier per set of rows of ``activations`` ``(N, F)``: set ``s``
        is the rows ``indices[s]`` labelled ``labels[s]``. Sets of the same size and
        number of classes are solved together (:mod:`._logistic`), each exactly as
        :meth:`fit` would. Returns ``(weights, classes, stats)`` per set."""
        if not 0 <= test_split_ratio < 1:
            raise AttributionValueError(
                f"`test_split_ratio` must be in [0, 1), got {test_split_ratio!r}"
            )
        x = activations.reshape(len(activations), -1)
        if gram is None:
            x0 = x.float() - x.float().mean(0)
            gram = (x0 @ x0.T).double()
        groups: dict[tuple[int, int], list[int]] = {}
        classes = []
        for s, (index, y) in enumerate(zip(indices, labels)):
            found = torch.unique(y)
            if len(found) < 2:
                raise AttributionValueError(
                    "a CAV needs examples of at least two concepts; got only label(s) "
                    f"{found.tolist()}"
                )
            classes.append(found.to(x.device))
            groups.setdefault((len(index), len(found)), []).append(s)
        out: list[tuple] = [None] * len(indices)  # type: ignore[list-item]
        # the Newton systems of a chunk of sets take at most SOLVE_BYTES
        chunks = []
        for key, members in groups.items():
            size = max(1, SOLVE_BYTES // (8 * key[0] ** 2 * key[1]))
            chunks += [(key, members[i : i + size]) for i in range(0, len(members), size)]
        for (n, n_classes), members in chunks:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
            n_test = int(test_split_ratio * n)
            test, train = order[:n_test].to(x.device), order[n_test:].to(x.device)
            index = torch.stack([indices[s].to(x.device) for s in members])
            y = torch.stack([labels[s].to(x.device) for s in members])
            cls = torch.stack([classes[s] for s in members])  # (S, C)
            onehot = (y.unsqueeze(-1) == cls.unsqueeze(1)).double()  # (S, n, C)
            targets = onehot[..., 1:] if n_classes == 2 else onehot
            w, b = fit_sets(x, index[:, train], targets[:, train], self.alpha, gram)
            for k, s in enumerate(members):
                weights = torch.cat([-w[k], w[k]]) if n_classes == 2 else w[k]
                stats = {"accs": torch.tensor(float("nan"))}
                if n_test:
                    logits = x[index[k, test]].to(w.dtype) @ w[k].T + b[k]
                    predicted = (logits[:, 0] > 0).long() if n_classes == 2 else logits.argmax(1)
                    correct = cls[k][predicted] == y[k, test]
                    stats = {"accs": correct.float().mean().cpu()}
                out[s] = (weights, cls[k].tolist(), stats)
        return out

    def weights(self) -> Tensor:
        """``(classes, F)``: the CAV of each class."""
        if self._weights is None:
            raise AttributionValueError("the classifier is not trained: call `train_and_eval`")
        return self._weights

    def classes(self) -> list[int]:
        """The concept id of each row of :meth:`weights`."""
        return list(self._classes)
