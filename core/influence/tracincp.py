r"""TracIn with checkpoints (Pruthi et al., 2020).

The influence of a training example ``z`` on an example ``z'`` is the sum over saved
checkpoints ``θ_c`` (with learning rates ``η_c``) of the dot products of their loss
gradients:

.. math:: \mathrm{TracInCP}(z, z') = \sum_c \eta_c\,
          \nabla_\theta \ell(z'; \theta_c) \cdot \nabla_\theta \ell(z; \theta_c),

and the self-influence of ``z`` is :math:`\sum_c \eta_c \lVert\nabla_\theta\ell(z;\theta_c)\rVert^2`
(high for mislabelled or atypical examples). Per-example gradients are computed a batch
at a time (:mod:`._gradients`); the training data is streamed once from its
``DataLoader`` with every checkpoint's parameters held in memory, and the ``k`` best
training examples are kept while streaming.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .._engine.batching import progress
from ..errors import AttributionTypeError, AttributionValueError
from ._data import (
    KMostInfluentialResults,
    TopK,
    as_loader,
    batches,
    checkpoint_paths,
    load_flexible_state_dict,
    restored,
)
from ._gradients import PerExampleGradients, parameter_names
from .influence import DataInfluence


class TracInCPBase(DataInfluence):
    """What the TracIn variants share: the model, the training data, the checkpoints and
    their loader, the losses, and ``influence`` dispatching to scores or the ``k`` most
    influential examples."""

    def __init__(
        self,
        model: nn.Module,
        train_dataset: Any,
        checkpoints: Any,
        checkpoints_load_func: Callable = load_flexible_state_dict,
        loss_fn: Callable | None = None,
        batch_size: int | None = 1,
        test_loss_fn: Callable | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise AttributionTypeError(
                f"`model` must be a torch.nn.Module, got {type(model).__name__}"
            )
        if not callable(checkpoints_load_func):
            raise AttributionTypeError("`checkpoints_load_func` must be callable")
        self.model = model
        self.checkpoints = checkpoint_paths(checkpoints)
        self.checkpoints_load_func = checkpoints_load_func
        self.loss_fn = loss_fn
        self.test_loss_fn = loss_fn if test_loss_fn is None else test_loss_fn
        self.batch_size = batch_size
        self.train_dataset = train_dataset
        self.train_dataloader = as_loader(train_dataset, batch_size, "train_dataset")

    # each subclass: _influence, _get_k_most_influential, self_influence
    def influence(
        self,
        inputs: Any,
        k: int | None = None,
        proponents: bool = True,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Influence scores of every training example on each of ``inputs``
        ``(inputs, train)`` when ``k`` is None, else the ``k`` most influential training
        examples of each (proponents: the largest scores; opponents: the smallest).

        ``inputs`` is a tuple ``(inputs..., labels)`` or a ``DataLoader`` of them.
        """
        if inputs is None:
            raise AttributionValueError(
                "`inputs` (a tuple (inputs..., labels) or a DataLoader of them) is required."
            )
        if k is None:
            return self._influence(inputs, show_progress=show_progress, **kwargs)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise AttributionValueError(f"`k` must be a positive int or None, got {k!r}")
        return self._get_k_most_influential(
            inputs, k, proponents, show_progress=show_progress, **kwargs
        )

    @classmethod
    def get_name(cls) -> str:
        """The method's name, as progress bars show it."""
        return cls.__name__

    def _desc(self, what: str) -> str:
        return f"Using {self.get_name()} to {what}"

    def _load(self, path: str) -> tuple[float, dict[str, Tensor]]:
        """One checkpoint's learning rate and parameters and buffers (model untouched)."""
        with restored(self.model):
            lr = self.checkpoints_load_func(self.model, path)
            state = {n: t.detach().clone() for n, t in self.model.named_parameters()}
            state.update({n: t.detach().clone() for n, t in self.model.named_buffers()})
        return (1.0 if lr is None else float(lr)), state

    def _checkpoint_params(self) -> list[tuple[float, dict[str, Tensor]]]:
        """Each checkpoint's learning rate and parameters (and buffers), the model put back."""
        return [self._load(path) for path in self.checkpoints]


class TracInCP(TracInCPBase):
    """TracIn over all (or the named ``layers'``) parameters.

    Parameters
    ----------
    model : torch.nn.Module
    train_dataset : Dataset or DataLoader
        Batches ``(inputs..., labels)``; a ``Dataset`` is read in order in batches of
        ``batch_size``.
    checkpoints : str or list of str
        A folder of checkpoint files (taken in sorted order), a file, or a list of files.
    checkpoints_load_func : callable
        ``f(model, path) -> learning rate``; by default a ``weights_only`` load.
    layers : list of str, optional
        Names of the modules whose parameters count (all by default).
    loss_fn, test_loss_fn : callable, optional
        The loss of the training and of the explained examples (``test_loss_fn`` defaults
        to ``loss_fn``); ``None``: the model's output is the loss.
    batch_size : int
    sample_wise_grads_per_batch : bool
        Accepted for compatibility: per-example gradients are always computed batched.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from torch.utils.data import TensorDataset
    >>> net = torch.nn.Linear(3, 1)
    >>> folder = tempfile.mkdtemp()
    >>> torch.save(net.state_dict(), os.path.join(folder, "epoch-1.pt"))
    >>> data = TensorDataset(torch.randn(20, 3), torch.randn(20, 1))
    >>> tracin = TracInCP(net, data, folder, loss_fn=torch.nn.MSELoss(reduction="none"),
    ...                   batch_size=8)
    >>> tracin.self_influence().shape
    torch.Size([20])
    >>> tracin.influence((torch.randn(2, 3), torch.randn(2, 1)), k=3).indices.shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        model: nn.Module,
        train_dataset: Any,
        checkpoints: Any,
        checkpoints_load_func: Callable = load_flexible_state_dict,
        layers: list[str] | None = None,
        loss_fn: Callable | None = None,
        batch_size: int | None = 1,
        test_loss_fn: Callable | None = None,
        sample_wise_grads_per_batch: bool = False,
    ) -> None:
        super().__init__(
            model,
            train_dataset,
            checkpoints,
            checkpoints_load_func,
            loss_fn,
            batch_size,
            test_loss_fn,
        )
        self.layers = layers
        self.sample_wise_grads_per_batch = sample_wise_grads_per_batch
        names = parameter_names(model, layers)
        self._train_grads = PerExampleGradients(model, loss_fn, names)
        self._test_grads = PerExampleGradients(model, self.test_loss_fn, names)

    def _quantities(
        self,
        data: Any,
        grads: PerExampleGradients,
        ckpts: list,
        show: bool = False,
        desc: str = "inputs",
    ) -> Tensor:
        """``(examples, checkpoints * parameters)``: ``sqrt(η_c)`` times each checkpoint's
        gradient, side by side."""
        rows = []
        for inputs, labels in batches(as_loader(data, self.batch_size, "inputs"), show, desc):
            rows.append(
                torch.cat([lr**0.5 * grads(params, inputs, labels) for lr, params in ckpts], 1)
            )
        return torch.cat(rows)

    def compute_intermediate_quantities(self, inputs: Any, aggregate: bool = False) -> Tensor:
        """The vectors whose dot products are the influence scores: per example, each
        checkpoint's loss gradient times the square root of its learning rate, side by side
        (summed over the examples with ``aggregate``)."""
        ckpts = self._checkpoint_params()
        out = self._quantities(inputs, self._train_grads, ckpts)
        return out.sum(0, keepdim=True) if aggregate else out

    def _stream(self, test: Tensor | None, ckpts: list, show: bool, desc: str):
        """Per training batch: its offset and its scores against ``test`` (or, without
        ``test``, its self-influence)."""
        offset = 0
        for inputs, labels in batches(self.train_dataloader, show, desc):
            quantities = torch.cat(
                [lr**0.5 * self._train_grads(params, inputs, labels) for lr, params in ckpts], 1
            )
            if test is None:
                yield offset, (quantities * quantities).sum(1)
            else:
                yield offset, test @ quantities.T.to(test.dtype)
            offset += len(labels)

    def _test_quantities(self, inputs: Any, ckpts: list, aggregate: bool) -> Tensor:
        test = self._quantities(inputs, self._test_grads, ckpts)
        return test.sum(0, keepdim=True) if aggregate else test

    def _influence(
        self, inputs: Any, show_progress: bool = False, aggregate: bool = False
    ) -> Tensor:
        ckpts = self._checkpoint_params()
        test = self._test_quantities(inputs, ckpts, aggregate)
        desc = self._desc("compute influence for training batches")
        parts = [s for _, s in self._stream(test, ckpts, show_progress, desc)]
        return torch.cat(parts, 1)

    def _get_k_most_influential(
        self,
        inputs: Any,
        k: int = 5,
        proponents: bool = True,
        show_progress: bool = False,
        aggregate: bool = False,
    ) -> KMostInfluentialResults:
        ckpts = self._checkpoint_params()
        test = self._test_quantities(inputs, ckpts, aggregate)
        top = TopK(k, largest=proponents)
        side = "proponents" if proponents else "opponents"
        desc = self._desc(f"perform computation for getting {side}. Processing training batches")
        for offset, scores in self._stream(test, ckpts, show_progress, desc):
            top.add(scores, offset)
        return top.result()

    def self_influence(
        self,
        inputs: Any = None,
        show_progress: bool = False,
        outer_loop_by_checkpoints: bool = False,
    ) -> Tensor:
        """Self-influence of each example of ``inputs`` (the training data by default).

        By default the data is read once with every checkpoint in memory; with
        ``outer_loop_by_checkpoints`` one checkpoint at a time is loaded and the data read
        once per checkpoint (less memory for large models).
        """
        data = (
            self.train_dataloader
            if inputs is None
            else as_loader(inputs, self.batch_size, "inputs")
        )
        desc = self._desc("compute self influence. ")
        if outer_loop_by_checkpoints:
            total = None
            for path in progress(self.checkpoints, show_progress, desc + "Processing checkpoint"):
                lr, params = self._load(path)
                part = []
                for x, y in batches(data, show_progress, desc + "Processing batch"):
                    g = self._train_grads(params, x, y)
                    part.append(lr * (g * g).sum(1))
                part = torch.cat(part)
                total = part if total is None else total + part
            return total
        ckpts = self._checkpoint_params()
        rows = []
        for x, y in batches(data, show_progress, desc + "Processing batch"):
            row = 0
            for lr, params in ckpts:
                g = self._train_grads(params, x, y)
                row = row + lr * (g * g).sum(1)
            rows.append(row)
        return torch.cat(rows)
