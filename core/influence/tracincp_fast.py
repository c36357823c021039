r"""TracIn restricted to the weights of the last fully connected layer, in closed form.

For a last layer ``o = W a + b``, the gradient of an example's loss with respect to ``W`` is
the outer product :math:`g\,a^\top` of the loss gradient at the layer's output
:math:`g = \partial\ell/\partial o` and the layer's input ``a``, so

.. math:: \nabla_W\ell(z')\cdot\nabla_W\ell(z) = (g'\cdot g)\,(a'\cdot a),

and TracIn sums that over checkpoints: one forward and one backward pass per batch give
every example's ``g`` and ``a``; no per-example gradient is formed.
``TracInCPFastRandProj`` stores, per training example, the flattened outer products
(optionally randomly projected to ``projection_dim`` dimensions) and finds the most
influential examples by exact search over them (or a given nearest-neighbour index).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .._engine.batching import Layout, pooling_channels_last, progress
from .._engine.hooks import CallHooks
from ..errors import AttributionTypeError, AttributionValueError
from ._data import (
    KMostInfluentialResults,
    TopK,
    as_loader,
    batches,
    check_projection_dim,
    load_flexible_state_dict,
    reduction_of,
    restored,
)
from .tracincp import TracInCPBase


def last_linear(model: nn.Module) -> nn.Module:
    """The model's last ``nn.Linear`` module (the layer :class:`TracInCPFast` works on)."""
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linear:
        raise AttributionValueError(
            f"the model ({type(model).__name__}) has no nn.Linear layer for TracInCPFast; "
            "use TracInCP"
        )
    return linear[-1]


def _module(model: nn.Module, layer: Any) -> nn.Module:
    if isinstance(layer, nn.Module):
        return layer
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError:
            raise AttributionValueError(
                f'Invalid final_fc_layer str: "{layer}" provided! The model has no module of '
                "that name (`final_fc_layer` must name a module or be one)"
            ) from None
    raise AttributionTypeError(
        f"`final_fc_layer` must be a module or its name, got {type(layer).__name__}"
    )


#: the training data's per-example factors are kept when they take at most this much
CACHE_BYTES = 1 << 30


def output_gradient(loss_fn: Any, out: Tensor, labels: Tensor) -> Tensor | None:
    r"""The gradient of ``loss_fn(out, labels)`` with respect to ``out`` in closed form,
    for a plain ``CrossEntropyLoss`` on class indices (:math:`\mathrm{softmax}(o) - e_y`)
    and ``MSELoss`` (:math:`2(o - y)`), divided as the reduction divides; ``None`` for
    any other loss (autograd is used)."""
    reduction = reduction_of(loss_fn)
    if reduction not in ("sum", "mean"):
        return None
    if (
        type(loss_fn) is nn.CrossEntropyLoss
        and loss_fn.weight is None
        and loss_fn.label_smoothing == 0
        and out.dim() == 2
        and labels.dim() == 1
        and not labels.is_floating_point()
        and bool((labels != loss_fn.ignore_index).all())
    ):
        g = out.float().softmax(1).to(out.dtype)
        g[torch.arange(len(out), device=out.device), labels] -= 1
        return g / len(out) if reduction == "mean" else g
    if type(loss_fn) is nn.MSELoss and out.shape == labels.shape:
        g = 2 * (out - labels.to(out.dtype))
        return g / out.numel() if reduction == "mean" else g
    return None


class TracInCPFast(TracInCPBase):
    """TracIn over the weights of ``final_fc_layer`` (a linear layer whose output the loss
    takes), in closed form. The loss must reduce by ``"sum"`` or ``"mean"`` (the latter is
    multiplied back by the batch size).

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from torch.utils.data import TensorDataset
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> folder = tempfile.mkdtemp()
    >>> torch.save(net.state_dict(), os.path.join(folder, "epoch-1.pt"))
    >>> data = TensorDataset(torch.randn(30, 4), torch.randint(0, 3, (30,)))
    >>> fast = TracInCPFast(net, net[2], data, folder,
    ...                     loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), batch_size=10)
    >>> fast.influence((torch.randn(2, 4), torch.tensor([0, 2]))).shape
    torch.Size([2, 30])
    """

    def __init__(
        self,
        model: nn.Module,
        final_fc_layer: Any,
        train_dataset: Any,
        checkpoints: Any,
        checkpoints_load_func: Callable = load_flexible_state_dict,
        loss_fn: Callable | None = None,
        batch_size: int | None = 1,
        test_loss_fn: Callable | None = None,
        vectorize: bool = False,
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
        self.final_fc_layer = _module(model, final_fc_layer)
        self._layout = Layout()
        #: memory for the training data's factors, kept between calls
        self.cache_bytes = CACHE_BYTES
        self._cache: list | None = None
        self.vectorize = vectorize
        for name, fn in (("loss_fn", self.loss_fn), ("test_loss_fn", self.test_loss_fn)):
            # a plain function (no `reduction`) is taken to sum over the batch
            if reduction_of(fn) not in ("sum", "mean", None) or fn is None:
                raise AttributionValueError(
                    f"`{name}` must reduce by 'sum' or 'mean' for {type(self).__name__} "
                    f"(its per-example gradients come from the batch's loss), got "
                    f"{'no loss' if fn is None else 'reduction ' + repr(reduction_of(fn))}"
                )

    def _factors(
        self, inputs: tuple, labels: Tensor, loss_fn: Callable, state: dict[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """Each example's loss gradient at the layer's output ``g`` and the layer's input
        ``a``, at the checkpoint's ``state``. When the layer is the model's output
        and the loss a plain cross-entropy or squared error, ``g`` has a closed form and
        the forward pass runs without autograd (and with images channels-last)."""
        seen: dict[str, Tensor] = {}

        def hook(module: nn.Module, args: tuple, out: Tensor) -> Tensor | None:
            seen["a"] = args[0]
            if torch.is_grad_enabled():  # the layer's output as a leaf: the gradient at it
                out = out.detach().requires_grad_(True)
                seen["o"] = out
                return out
            seen["o"] = out
            return None

        def forward(points: tuple) -> Tensor:
            return functional_call(self.model, state, points)

        with CallHooks() as hooks:  # this call's passes only
            hooks.forward(self.final_fc_layer, hook)
            with torch.no_grad(), pooling_channels_last(self.model, self._layout.channels_last):
                out = self._layout.call(forward, tuple(inputs))
            g = output_gradient(loss_fn, out, labels) if seen.get("o") is out else None
            if g is None:
                with torch.enable_grad():
                    out = forward(tuple(inputs))
                    g = torch.autograd.grad(loss_fn(out, labels), seen["o"])[0]
        if reduction_of(loss_fn) == "mean":
            g = g * len(labels)
        a = seen["a"].detach()
        return g.reshape(len(labels), -1).detach(), a.reshape(len(labels), -1)

    def _checkpoint_states(self) -> list[tuple[float, dict[str, Tensor]]]:
        """Each checkpoint's learning rate and state (the model put back afterwards)."""
        states = []
        with restored(self.model):
            for path in self.checkpoints:
                lr = self.checkpoints_load_func(self.model, path)
                state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                states.append((1.0 if lr is None else float(lr), state))
        return states

    def _per_checkpoint(
        self, data: Any, loss_fn: Callable, show: bool = False, desc: str = "inputs"
    ) -> list[tuple[float, Tensor, Tensor]]:
        """Per checkpoint: its learning rate and the ``g``, ``a`` of every example of ``data``."""
        batches_ = [
            factors
            for _, factors in self._batch_factors(
                show, desc, as_loader(data, self.batch_size, "inputs"), loss_fn
            )
        ]
        return [
            (per[0][0], torch.cat([g for _, g, _ in per]), torch.cat([a for _, _, a in per]))
            for per in zip(*batches_)
        ]

    def _batch_factors(
        self, show: bool, desc: str, data: Any = None, loss_fn: Callable | None = None
    ):
        """Per batch of ``data`` (the training data by default): its size and, per
        checkpoint, ``(η, g, a)`` under ``loss_fn`` (the training loss by default). The
        training data's factors are kept after the first full pass when they fit in
        :attr:`cache_bytes` (``(classes + features)`` numbers per example and checkpoint),
        so later calls do not run the model on it again."""
        if data is None and self._cache is not None:
            yield from progress(self._cache, show, desc)
            return
        loss_fn = self.loss_fn if loss_fn is None else loss_fn
        kept: list | None = [] if data is None else None
        size = 0
        states = self._checkpoint_states()
        for inputs, labels in batches(self.train_dataloader if data is None else data, show, desc):
            factors = [(lr, *self._factors(inputs, labels, loss_fn, state)) for lr, state in states]
            item = (len(labels), factors)
            if kept is not None:
                size += sum(g.nbytes + a.nbytes for _, g, a in factors)
                if size <= self.cache_bytes:
                    kept.append(item)
                else:
                    kept = None
            yield item
        if kept is not None:
            self._cache = kept

    def _stream(self, test: list | None, show: bool, desc: str, data: Any = None):
        """Per training batch (all checkpoints): its offset and scores against the test
        factors (or its self-influence)."""
        offset = 0
        for n, factors in self._batch_factors(show, desc, data):
            total = None
            for c, (lr, g, a) in enumerate(factors):
                if test is None:
                    part = lr * (g * g).sum(1) * (a * a).sum(1)
                else:
                    _, tg, ta = test[c]
                    part = lr * (tg @ g.T.to(tg.dtype)) * (ta @ a.T.to(ta.dtype))
                total = part if total is None else total + part
            yield offset, total
            offset += n

    def _influence(self, inputs: Any, show_progress: bool = False) -> Tensor:
        test = self._per_checkpoint(inputs, self.test_loss_fn)
        desc = self._desc("compute influence for training batches")
        return torch.cat([s for _, s in self._stream(test, show_progress, desc)], 1)

    def _get_k_most_influential(
        self, inputs: Any, k: int = 5, proponents: bool = True, show_progress: bool = False
    ) -> KMostInfluentialResults:
        test = self._per_checkpoint(inputs, self.test_loss_fn)
        top = TopK(k, largest=proponents)
        side = "proponents" if proponents else "opponents"
        desc = self._desc(f"perform computation for getting {side}. Processing training batches")
        for offset, scores in self._stream(test, show_progress, desc):
            top.add(scores, offset)
        return top.result()

    def self_influence(
        self,
        inputs: Any = None,
        show_progress: bool = False,
        outer_loop_by_checkpoints: bool = False,
    ) -> Tensor:
        """Self-influence of each example of ``inputs`` (the training data by default):
        :math:`\\sum_c \\eta_c \\lVert g\rVert^2 \\lVert a\rVert^2`; with
        ``outer_loop_by_checkpoints`` one checkpoint at a time (the data read once per
        checkpoint)."""
        data = (
            self.train_dataloader
            if inputs is None
            else as_loader(inputs, self.batch_size, "inputs")
        )
        desc = self._desc("compute self influence. ")
        if not outer_loop_by_checkpoints:
            stream = self._stream(
                None, show_progress, desc + "Processing batch", None if inputs is None else data
            )
            return torch.cat([s for _, s in stream])
        total = None
        for lr, state in progress(
            self._checkpoint_states(), show_progress, desc + "Processing checkpoint"
        ):
            part = []
            for x, y in batches(data, show_progress, desc + "Processing batch"):
                g, a = self._factors(x, y, self.loss_fn, state)
                part.append(lr * (g * g).sum(1) * (a * a).sum(1))
            part = torch.cat(part)
            total = part if total is None else total + part
        return total


class TracInCPFastRandProj(TracInCPFast):
    """:class:`TracInCPFast` with the training examples' quantities stored: per example and
    checkpoint the flattened outer product ``sqrt(η) g a^T``, optionally multiplied by
    random Gaussian matrices to about ``projection_dim`` dimensions (``g`` and ``a``
    projected separately, Johnson-Lindenstrauss), so that influence is a dot product and
    the most influential examples a nearest-neighbour search (exact, in torch; or the
    ``nearest_neighbors`` object given: ``setup(data)``, ``get_nearest_neighbors(query, k)``).

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from torch.utils.data import TensorDataset
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> folder = tempfile.mkdtemp()
    >>> torch.save(net.state_dict(), os.path.join(folder, "epoch-1.pt"))
    >>> data = TensorDataset(torch.randn(30, 4), torch.randint(0, 3, (30,)))
    >>> proj = TracInCPFastRandProj(net, net[2], data, folder,
    ...     loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), batch_size=10, projection_dim=6)
    >>> proj.influence((torch.randn(2, 4), torch.tensor([0, 2])), k=4).indices.shape
    torch.Size([2, 4])
    """

    def __init__(
        self,
        model: nn.Module,
        final_fc_layer: Any,
        train_dataset: Any,
        checkpoints: Any,
        checkpoints_load_func: Callable = load_flexible_state_dict,
        loss_fn: Callable | None = None,
        batch_size: int | None = 1,
        test_loss_fn: Callable | None = None,
        vectorize: bool = False,
        nearest_neighbors: Any = None,
        projection_dim: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(
            model,
            final_fc_layer,
            train_dataset,
            checkpoints,
            checkpoints_load_func,
            loss_fn,
            batch_size,
            test_loss_fn,
            vectorize,
        )
        self.projection_dim = check_projection_dim(projection_dim)
        self.seed = seed
        self.nearest_neighbors = nearest_neighbors
        self._projections: list[tuple[Tensor | None, Tensor | None] | None] | None = None
        self._train: Tensor | None = None

    def _project(self, per: list[tuple[float, Tensor, Tensor]]) -> Tensor:
        if self._projections is None:
            generator = torch.Generator().manual_seed(self.seed)
            self._projections = []
            for _, g, a in per:
                if self.projection_dim is None or self.projection_dim >= g.shape[1] * a.shape[1]:
                    self._projections.append(None)
                    continue
                dg = min(g.shape[1], max(1, math.isqrt(self.projection_dim)))
                da = min(a.shape[1], max(1, self.projection_dim // dg))

                def gaussian(rows: int, cols: int) -> Tensor | None:
                    # a factor that keeps its dimensions is not projected (no added noise)
                    if cols >= rows:
                        return None
                    return (
                        torch.randn(rows, cols, generator=generator, dtype=torch.float64)
                        / cols**0.5
                    )

                self._projections.append((gaussian(g.shape[1], dg), gaussian(a.shape[1], da)))
        parts = []
        for (lr, g, a), proj in zip(per, self._projections):
            if proj is not None:
                g = g if proj[0] is None else g @ proj[0].to(g)
                a = a if proj[1] is None else a @ proj[1].to(a)
            parts.append(lr**0.5 * (g.unsqueeze(2) * a.unsqueeze(1)).flatten(1))
        return torch.cat(parts, 1)

    def compute_intermediate_quantities(self, inputs: Any) -> Tensor:
        """The (projected) quantities whose dot products are the influence scores."""
        return self._project(self._per_checkpoint(inputs, self.loss_fn))

    def _train_quantities(self) -> Tensor:
        if self._train is None:
            self._train = self.compute_intermediate_quantities(self.train_dataloader)
            if self.nearest_neighbors is not None:
                self.nearest_neighbors.setup(self._train)
        return self._train

    def _influence(self, inputs: Any, show_progress: bool = False) -> Tensor:
        train = self._train_quantities()
        return self._project(self._per_checkpoint(inputs, self.test_loss_fn)) @ train.T

    def _get_k_most_influential(
        self, inputs: Any, k: int = 5, proponents: bool = True, show_progress: bool = False
    ) -> KMostInfluentialResults:
        train = self._train_quantities()
        query = self._project(self._per_checkpoint(inputs, self.test_loss_fn))
        if self.nearest_neighbors is not None:
            indices, scores = self.nearest_neighbors.get_nearest_neighbors(
                query if proponents else -query, k
            )
            return KMostInfluentialResults(indices, scores if proponents else -scores)
        scores = query @ train.T
        best, where = scores.topk(min(k, scores.shape[1]), dim=1, largest=proponents)
        return KMostInfluentialResults(where, best)

    def influence(
        self,
        inputs: Any = None,
        k: int | None = 5,
        proponents: bool = True,
        show_progress: bool = False,
    ) -> Any:
        """As :meth:`TracInCPBase.influence` (``k`` defaults to 5, as in Captum)."""
        return super().influence(inputs, k, proponents, show_progress)

    def self_influence(
        self,
        inputs: Any = None,
        show_progress: bool = False,
        outer_loop_by_checkpoints: bool = False,
    ) -> Tensor:
        """Exact self-influence (not projected), as :class:`TracInCPFast`."""
        return super().self_influence(inputs, show_progress, outer_loop_by_checkpoints)
