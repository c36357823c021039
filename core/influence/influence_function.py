r"""Influence functions (Koh and Liang, 2017), computed exactly from the Hessian.

Removing a training example ``z`` changes the loss on ``z'`` by about

.. math:: \mathcal I(z, z') = \nabla_\theta \ell(z')^\top H^{-1} \nabla_\theta \ell(z),
          \qquad H = \sum_{z_h} \nabla^2_\theta \ell(z_h) + \lambda I

(the Hessian of the summed loss over ``hessian_dataset``, the training data by default, at
the ``checkpoint``). With the eigendecomposition ``H = V Λ V^T`` and only eigenvalues above
``hessian_inverse_tol`` kept (the ``projection_dim`` largest, if given; a non-convex
model's negative curvature is dropped), every example gets the vector
``Λ^{-1/2} V^T ∇ℓ(z)`` and influence is a dot product of two of them. The Hessian is formed
exactly, so this suits models with up to a few thousand chosen parameters (``layers``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, hessian, jvp, vmap

from .._engine.batching import progress
from ..errors import AttributionTypeError, AttributionValueError
from ._data import (
    KMostInfluentialResults,
    TopK,
    as_loader,
    batches,
    check_projection_dim,
    checkpoint_paths,
    load_flexible_state_dict,
    restored,
)
from ._gradients import PerExampleGradients, parameter_names
from .influence import DataInfluence


class InfluenceFunctionBase(DataInfluence):
    """What the influence-function methods share: the model at one checkpoint, the
    training and Hessian data, the losses, and influence as a dot product of the
    examples' intermediate quantities (:meth:`compute_intermediate_quantities`)."""

    def __init__(
        self,
        model: nn.Module,
        train_dataset: Any,
        checkpoint: str,
        checkpoints_load_func: Callable = load_flexible_state_dict,
        layers: list[str] | None = None,
        loss_fn: Callable | None = None,
        batch_size: int | None = 1,
        hessian_dataset: Any = None,
        test_loss_fn: Callable | None = None,
        show_progress: bool = False,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise AttributionTypeError(
                f"`model` must be a torch.nn.Module, got {type(model).__name__}"
            )
        self.model = model
        self.checkpoint = checkpoint_paths(checkpoint)[-1]
        self.checkpoints_load_func = checkpoints_load_func
        self.layers = layers
        self.loss_fn = loss_fn
        self.test_loss_fn = loss_fn if test_loss_fn is None else test_loss_fn
        self.batch_size = batch_size
        self.train_dataset = train_dataset
        self.train_dataloader = as_loader(train_dataset, batch_size, "train_dataset")
        self.hessian_dataloader = (
            self.train_dataloader
            if hessian_dataset is None
            else as_loader(hessian_dataset, batch_size, "hessian_dataset")
        )
        self.show_progress = show_progress
        self.names = parameter_names(model, layers)
        with restored(model):
            checkpoints_load_func(model, self.checkpoint)
            self.params = {n: t.detach().clone() for n, t in model.named_parameters()}
            self.params.update({n: t.detach().clone() for n, t in model.named_buffers()})
        self._train_grads = PerExampleGradients(model, loss_fn, self.names)
        self._test_grads = PerExampleGradients(model, self.test_loss_fn, self.names)

    @classmethod
    def get_name(cls) -> str:
        """The method's name, as progress bars show it."""
        return cls.__name__

    def _invert(self, values: Tensor, vectors: Tensor, top: int | None) -> None:
        """Keep the eigenpairs above ``hessian_inverse_tol`` (the ``top`` largest, if
        given) as ``R = Λ^{-1/2} V^T``: an example's quantity is ``R g``, and the dot
        product of two is ``g^T H^{-1} g'`` on the kept directions."""
        keep = values > self.hessian_inverse_tol
        values, vectors = values[keep], vectors[:, keep]
        if top is not None:
            values, vectors = values[-top:], vectors[:, -top:]
        self.R = (vectors / values.sqrt()).T

    def _transform(self, grads: Tensor) -> Tensor:
        return grads.to(self.R.dtype) @ self.R.T

    def compute_intermediate_quantities(
        self,
        inputs_dataset: Any,
        aggregate: bool = False,
        show_progress: bool = False,
        return_on_cpu: bool = True,
        test: bool = False,
    ) -> Tensor:
        """Per example, ``Λ^{-1/2} V^T ∇ℓ``: influence is the dot product of two examples'
        vectors (``test`` uses ``test_loss_fn``; ``aggregate`` sums over the examples)."""
        grads = self._test_grads if test else self._train_grads
        rows = [
            self._transform(grads(self.params, x, y))
            for x, y in batches(
                as_loader(inputs_dataset, self.batch_size, "inputs_dataset"),
                show_progress,
                f"Using {self.get_name()} to compute intermediate quantities",
            )
        ]
        out = torch.cat(rows)
        out = out.sum(0, keepdim=True) if aggregate else out
        return out.cpu() if return_on_cpu else out

    def influence(
        self,
        inputs: Any,
        k: int | None = None,
        proponents: bool = True,
        show_progress: bool = False,
    ) -> Any:
        """Influence of every training example on each of ``inputs`` (``(inputs, train)``),
        or the ``k`` most influential training examples of each."""
        if inputs is None:
            raise AttributionValueError("`inputs` (a tuple (inputs..., labels)) is required.")
        test = self.compute_intermediate_quantities(inputs, test=True, return_on_cpu=False)
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise AttributionValueError(f"`k` must be a positive int or None, got {k!r}")
        top = TopK(k, largest=proponents) if k is not None else None
        parts, offset = [], 0
        desc = f"Using {self.get_name()} to compute influence for training batches"
        for x, y in batches(self.train_dataloader, show_progress, desc):
            scores = test @ self._transform(self._train_grads(self.params, x, y)).T
            if top is None:
                parts.append(scores)
            else:
                top.add(scores, offset)
            offset += len(y)
        return torch.cat(parts, 1) if top is None else top.result()

    def _get_k_most_influential(
        self, inputs: Any, k: int = 5, proponents: bool = True, show_progress: bool = False
    ) -> KMostInfluentialResults:
        return self.influence(inputs, k, proponents, show_progress)

    def _influence(self, inputs: Any, show_progress: bool = False) -> Tensor:
        return self.influence(inputs, None, show_progress=show_progress)

    def self_influence(self, inputs_dataset: Any = None, show_progress: bool = False) -> Tensor:
        """``∇ℓ(z)^T H^{-1} ∇ℓ(z)`` for each example (the training data by default)."""
        data = self.train_dataloader if inputs_dataset is None else inputs_dataset
        q = self.compute_intermediate_quantities(
            data, show_progress=show_progress, return_on_cpu=False
        )
        return (q * q).sum(1)


def summed_loss(
    model: nn.Module, loss_fn: Callable | None, params: dict[str, Tensor], names: list[str]
) -> Callable:
    """The summed per-example loss of a batch as a function of the chosen parameters,
    flattened into one vector."""
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    others = {n: t for n, t in params.items() if n not in names}

    def one(flat: Tensor, inputs: tuple, label: Tensor) -> Tensor:
        chosen = {n: p.view(s) for n, p, s in zip(names, flat.split(sizes), shapes)}
        out = functional_call(model, {**others, **chosen}, tuple(x.unsqueeze(0) for x in inputs))
        value = out if loss_fn is None else loss_fn(out, label.unsqueeze(0))
        return value.sum()

    def total(flat: Tensor, inputs: tuple, labels: Tensor) -> Tensor:
        return vmap(one, in_dims=(None, 0, 0))(flat, inputs, labels).sum()

    return total


class NaiveInfluenceFunction(InfluenceFunctionBase):
    """Influence functions from the exact Hessian of the summed training loss.

    Parameters
    ----------
    model, train_dataset, checkpoint, checkpoints_load_func, layers, loss_fn, batch_size,
    hessian_dataset, test_loss_fn
        As for :class:`TracInCP` (one checkpoint: a file, or the last file of a folder).
    projection_dim : int or None
        Keep the largest ``projection_dim`` eigenvalues (``None``: all that are positive).
    hessian_reg : float
        ``λ`` added to the Hessian's diagonal.
    hessian_inverse_tol : float
        Eigenvalues at or below it are dropped.
    seed, projection_on_cpu, sample_wise_grads_per_batch
        Accepted for compatibility.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from torch.utils.data import TensorDataset
    >>> net = torch.nn.Linear(3, 1, bias=False)
    >>> path = os.path.join(tempfile.mkdtemp(), "final.pt")
    >>> torch.save(net.state_dict(), path)
    >>> data = TensorDataset(torch.randn(20, 3), torch.randn(20, 1))
    >>> naive = NaiveInfluenceFunction(net, data, path, loss_fn=torch.nn.MSELoss(),
    ...                                batch_size=5, projection_dim=None)
    >>> naive.influence((torch.randn(2, 3), torch.randn(2, 1))).shape
    torch.Size([2, 20])
    """

    def __init__(
        self,
        model: nn.Module,
        train_dataset: Any,
        checkpoint: str,
        checkpoints_load_func: Callable = load_flexible_state_dict,
        layers: list[str] | None = None,
        loss_fn: Callable | None = None,
        batch_size: int | None = 1,
        hessian_dataset: Any = None,
        test_loss_fn: Callable | None = None,
        sample_wise_grads_per_batch: bool = False,
        projection_dim: int | None = 50,
        seed: int = 42,
        hessian_reg: float = 1e-6,
        hessian_inverse_tol: float = 1e-5,
        projection_on_cpu: bool = True,
        show_progress: bool = False,
    ) -> None:
        super().__init__(
            model,
            train_dataset,
            checkpoint,
            checkpoints_load_func,
            layers,
            loss_fn,
            batch_size,
            hessian_dataset,
            test_loss_fn,
            show_progress,
        )
        self.projection_dim = check_projection_dim(projection_dim)
        self.hessian_reg = hessian_reg
        self.hessian_inverse_tol = hessian_inverse_tol
        self._invert(*torch.linalg.eigh(self.hessian(show_progress)), projection_dim)

    def hessian(self, show_progress: bool = False) -> Tensor:
        """``Σ ∇²ℓ + λ I`` over the Hessian data, ``(parameters, parameters)``."""
        flat = torch.cat([self.params[n].reshape(-1) for n in self.names])
        total_loss = summed_loss(self.model, self.loss_fn, self.params, self.names)
        h = torch.zeros(len(flat), len(flat), dtype=flat.dtype, device=flat.device)
        for x, y in batches(
            self.hessian_dataloader,
            show_progress,
            f"Using {self.get_name()} to compute the Hessian",
        ):
            h = h + hessian(total_loss)(flat, x, y)
        h = (h + h.T) / 2
        return h + self.hessian_reg * torch.eye(len(flat), dtype=h.dtype, device=h.device)


class ArnoldiInfluenceFunction(InfluenceFunctionBase):
    """Influence functions from the top of the Hessian's spectrum, found by Arnoldi
    iteration (Schioppa et al., 2022) with Hessian-vector products only: no Hessian is
    formed, so it scales to models whose Hessian would not fit.

    ``arnoldi_dim`` Krylov vectors are built from a random start (``seed``) by products
    with ``H = Σ ∇²ℓ + λ I`` over the Hessian data (stopping early when the new vector's
    norm falls below ``arnoldi_tol``); the ``projection_dim`` largest eigenvalues of the
    projected matrix above ``hessian_inverse_tol`` and their vectors give
    ``H^{-1} ≈ V Λ^{-1} V^T``, used as by :class:`NaiveInfluenceFunction`.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from torch.utils.data import TensorDataset
    >>> net = torch.nn.Linear(3, 1, bias=False)
    >>> path = os.path.join(tempfile.mkdtemp(), "final.pt")
    >>> torch.save(net.state_dict(), path)
    >>> data = TensorDataset(torch.randn(20, 3), torch.randn(20, 1))
    >>> arnoldi = ArnoldiInfluenceFunction(net, data, path, loss_fn=torch.nn.MSELoss(),
    ...                                    batch_size=5, projection_dim=2, arnoldi_dim=3)
    >>> arnoldi.self_influence().shape
    torch.Size([20])
    """

    def __init__(
        self,
        model: nn.Module,
        train_dataset: Any,
        checkpoint: str,
        checkpoints_load_func: Callable = load_flexible_state_dict,
        layers: list[str] | None = None,
        loss_fn: Callable | None = None,
        batch_size: int | None = 1,
        hessian_dataset: Any = None,
        test_loss_fn: Callable | None = None,
        sample_wise_grads_per_batch: bool = False,
        projection_dim: int = 50,
        seed: int = 0,
        arnoldi_dim: int = 200,
        arnoldi_tol: float = 1e-1,
        hessian_reg: float = 1e-3,
        hessian_inverse_tol: float = 1e-4,
        projection_on_cpu: bool = True,
        show_progress: bool = False,
    ) -> None:
        super().__init__(
            model,
            train_dataset,
            checkpoint,
            checkpoints_load_func,
            layers,
            loss_fn,
            batch_size,
            hessian_dataset,
            test_loss_fn,
            show_progress,
        )
        self.projection_dim = check_projection_dim(projection_dim)
        if isinstance(arnoldi_dim, bool) or not isinstance(arnoldi_dim, int) or arnoldi_dim < 1:
            raise AttributionValueError(
                f"`arnoldi_dim` must be a positive int, got {arnoldi_dim!r}"
            )
        self.arnoldi_dim, self.arnoldi_tol = arnoldi_dim, arnoldi_tol
        self.hessian_reg, self.hessian_inverse_tol = hessian_reg, hessian_inverse_tol
        self.seed = seed
        self._invert(*self._top_eigen(show_progress), None)  # _top_eigen keeps the top

    def hvp(self, v: Tensor) -> Tensor:
        """``H v`` summed over the Hessian data (plus ``λ v``)."""
        flat = torch.cat([self.params[n].reshape(-1) for n in self.names])
        total_loss = summed_loss(self.model, self.loss_fn, self.params, self.names)
        out = self.hessian_reg * v
        for x, y in batches(self.hessian_dataloader, False, ""):

            def gradient(p: Tensor, x: tuple = x, y: Tensor = y) -> Tensor:
                return grad(total_loss)(p, x, y)

            out = out + jvp(gradient, (flat,), (v.to(flat),))[1]
        return out

    def _top_eigen(self, show: bool) -> tuple[Tensor, Tensor]:
        """The largest eigenvalues (ascending) and their vectors, by Arnoldi iteration."""
        size = sum(self.params[n].numel() for n in self.names)
        dtype = self.params[self.names[0]].dtype
        generator = torch.Generator().manual_seed(self.seed)
        q = torch.randn(size, generator=generator, dtype=torch.float64)
        basis = [q / q.norm()]
        steps = min(self.arnoldi_dim, size)
        h = torch.zeros(steps + 1, steps, dtype=torch.float64)
        for k in progress(range(steps), show, f"Using {self.get_name()}: Arnoldi iteration"):
            w = self.hvp(basis[k].to(dtype)).double()
            for _ in range(2):  # Gram-Schmidt twice: the basis stays orthogonal to rounding
                for j, qj in enumerate(basis):
                    c = qj @ w
                    h[j, k] += c
                    w = w - c * qj
            h[k + 1, k] = w.norm()
            if h[k + 1, k] < self.arnoldi_tol or k == steps - 1:
                steps = k + 1
                break
            basis.append(w / h[k + 1, k])
        small = h[:steps, :steps]
        values, vectors = torch.linalg.eigh((small + small.T) / 2)
        top = self.projection_dim if self.projection_dim is not None else steps
        values, vectors = values[-top:], vectors[:, -top:]
        return values.to(dtype), (torch.stack(basis[:steps], 1) @ vectors).to(dtype)
