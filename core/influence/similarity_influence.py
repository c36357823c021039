"""Influence as similarity: the training examples whose activations in a layer are closest
to an input's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from .._engine.capture import layer_values
from .._engine.inputs import format_additional_args
from ..concept.av import AV
from ..concept.tcav import module_by_name
from ..errors import AttributionTypeError, AttributionValueError
from ._data import TopK
from .influence import DataInfluence

DIRECTIONS = ("max", "min")


def cosine_similarity(test: Tensor, train: Tensor, replace_nan: float = 0.0) -> Tensor:
    """``(n, m)`` cosine similarities of the flattened rows (a zero row gives ``replace_nan``).

    Examples
    --------
    >>> cosine_similarity(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    tensor([[1., 0.]])
    """
    a, b = test.flatten(1), train.flatten(1)
    out = (a @ b.T) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1)[None, :])
    return out.nan_to_num(replace_nan, replace_nan, replace_nan)


def euclidean_distance(test: Tensor, train: Tensor) -> Tensor:
    """``(n, m)`` Euclidean distances of the flattened rows (use ``similarity_direction="min"``).

    Examples
    --------
    >>> euclidean_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
    tensor([[5.]])
    """
    return torch.cdist(test.flatten(1), train.flatten(1))


class SimilarityInfluence(DataInfluence):
    """The ``top_k`` examples of ``influence_src_dataset`` whose activations in each of
    ``layers`` are most similar to each input's (cosine by default).

    The source dataset's activations are computed once (all layers in one forward pass
    per batch) and stored under ``activation_dir`` (``AV``'s layout, ``weights_only``
    files) for later calls and later instances with the same ``model_id``.

    Examples
    --------
    >>> import tempfile, torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> source = torch.utils.data.TensorDataset(torch.randn(12, 3))
    >>> similar = SimilarityInfluence(net, "1", source, tempfile.mkdtemp(), batch_size=5)
    >>> indices, scores = similar.influence(torch.randn(2, 3), top_k=3)["1"]
    >>> indices.shape, scores.shape
    (torch.Size([2, 3]), torch.Size([2, 3]))
    """

    def __init__(
        self,
        module: nn.Module,
        layers: str | list[str],
        influence_src_dataset: Dataset,
        activation_dir: str,
        model_id: str = "",
        similarity_metric: Callable = cosine_similarity,
        similarity_direction: str = "max",
        batch_size: int = 1,
        **kwargs: Any,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise AttributionTypeError(
                f"`module` must be a torch.nn.Module, got {type(module).__name__}"
            )
        if similarity_direction not in DIRECTIONS:
            raise AttributionValueError(
                f"`similarity_direction` must be one of {DIRECTIONS}, got {similarity_direction!r}"
            )
        self.module = module
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        self._modules = [module_by_name(module, name) for name in self.layers]
        self.influence_src_dataset = influence_src_dataset
        self.activation_dir = activation_dir
        self.model_id = model_id or "default"
        self.similarity_metric = similarity_metric
        self.similarity_direction = similarity_direction
        self.batch_size = batch_size
        self._source: dict[str, Tensor] = {}

    def _activations(self, inputs: tuple, args: tuple) -> list[Tensor]:
        values = layer_values(self.module, self._modules, inputs, args, False)
        return [torch.cat([t.reshape(t.shape[0], -1) for t in value], 1) for value, _ in values]

    def _source_activations(self, load_from_disk: bool) -> dict[str, Tensor]:
        if self._source:
            return self._source
        stored = load_from_disk and all(
            AV.exists(self.activation_dir, self.model_id, "src", layer) for layer in self.layers
        )
        if stored:
            for layer in self.layers:
                data = AV.load(self.activation_dir, self.model_id, "src", layer)
                self._source[layer] = torch.cat([data[i] for i in range(len(data))])
            return self._source
        parts: list[list[Tensor]] = [[] for _ in self.layers]
        loader = self.influence_src_dataset
        if not isinstance(loader, DataLoader):
            loader = DataLoader(loader, batch_size=self.batch_size)
        for i, batch in enumerate(loader):
            xs = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
            acts = self._activations(xs, ())
            AV.save(self.activation_dir, self.model_id, "src", self.layers, acts, str(i))
            for part, act in zip(parts, acts):
                part.append(act)
        self._source = {layer: torch.cat(p) for layer, p in zip(self.layers, parts)}
        return self._source

    def influence(
        self,
        inputs: Any,
        top_k: int = 1,
        additional_forward_args: Any = None,
        load_src_from_disk: bool = True,
        **kwargs: Any,
    ) -> dict[str, tuple[Tensor, Tensor]]:
        """Per layer, ``(indices, scores)`` ``(inputs, top_k)`` of the most similar source
        examples, most similar first."""
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise AttributionValueError(f"`top_k` must be a positive int, got {top_k!r}")
        xs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        tests = self._activations(xs, format_additional_args(additional_forward_args))
        source = self._source_activations(load_src_from_disk)
        out = {}
        for layer, test in zip(self.layers, tests):
            train = source[layer]
            if top_k > len(train):
                raise AttributionValueError(
                    f"`top_k` ({top_k}) exceeds the source dataset's {len(train)} examples"
                )
            top = TopK(top_k, largest=self.similarity_direction == "max")
            for start in range(0, len(train), 4096):
                top.add(self.similarity_metric(test, train[start : start + 4096]), start)
            result = top.result()
            out[layer] = (result.indices, result.influence_scores)
        return out
