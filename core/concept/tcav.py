r"""Testing with concept activation vectors (Kim et al., 2018).

For an experimental set of concepts and a layer, a linear classifier separates the
concepts' activations; its weight rows are the concepts' activation vectors (CAVs) ``v_c``.
For an input ``x`` and a target, the layer's sensitivity ``s(x)`` (by default the gradient
of the target's output with respect to the layer) gives per concept

.. math:: \text{sign\_count}_c = \frac{1}{N}\sum_x \mathbb 1[s(x)\cdot v_c > 0], \qquad
          \text{magnitude}_c = \frac{1}{N}\sum_x s(x)\cdot v_c .

Activations are computed once per concept, for every layer in one forward pass per batch
(the pass stops after the last layer), kept in memory and, with a ``save_path``, on disk
(reused by later interpreters with the same ``model_id``); the sensitivities of all layers
come from one forward and backward pass.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from .._engine.batching import Layout, auto_rows
from .._engine.capture import layer_gradients, layer_values
from .._engine.hooks import preserved_state, recurrent_backward_allowed
from .._engine.inputs import as_tuple, format_additional_args, format_target
from ..errors import AttributionTypeError, AttributionValueError
from .av import AV
from .cav import CAV
from .classifier import Classifier, DefaultClassifier
from .concept import Concept, ConceptInterpreter, concepts_to_str


def module_by_name(model: nn.Module, name: str) -> nn.Module:
    """``model``'s submodule named ``name`` (as in ``named_modules()``), with a clear error."""
    if not isinstance(name, str):
        raise AttributionTypeError(f"a layer must be named by a str, got {type(name).__name__}")
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n][:12]
        raise AttributionValueError(
            f"`layers`: the model ({type(model).__name__}) has no submodule {name!r}; "
            f"its submodules include {names}"
        ) from None


class TCAV(ConceptInterpreter):
    """TCAV scores of experimental sets of concepts in named layers of a model.

    Parameters
    ----------
    model : torch.nn.Module
    layers : str or list of str
        Names of the layers (as in ``model.named_modules()``).
    model_id : str
        Names the model's stored activations and CAVs.
    classifier : Classifier, optional
        Trains the CAVs; :class:`DefaultClassifier` by default.
    layer_attr_method : LayerAttribution, optional
        The layer sensitivity; by default the gradient of the target's output with respect
        to each layer (all layers in one backward pass). A given method is run per layer
        with its ``layer`` set.
    attribute_to_layer_input : bool
        Use what each layer receives instead of what it returns.
    save_path : str or None
        Folder for the activations (``<save_path>/av/...``) and the CAVs; ``None`` keeps
        them in memory only.
    **classifier_kwargs
        Passed to ``classifier.train_and_eval``.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core.concept import Concept, TCAV
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> up = Concept(0, "up", [torch.randn(20, 4) + 2])
    >>> down = Concept(1, "down", [torch.randn(20, 4) - 2])
    >>> tcav = TCAV(net, ["0"], save_path=None)
    >>> scores = tcav.interpret(torch.randn(5, 4), [[up, down]], target=1)
    >>> sorted(scores["0-1"]["0"])
    ['magnitude', 'sign_count']
    """

    def __init__(
        self,
        model: nn.Module,
        layers: str | list[str],
        model_id: str = "default_model_id",
        classifier: Classifier | None = None,
        layer_attr_method: Any = None,
        attribute_to_layer_input: bool = False,
        save_path: str | None = "./cav/",
        **classifier_kwargs: Any,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise AttributionTypeError(
                f"`model` must be a torch.nn.Module (layers are found by name), got "
                f"{type(model).__name__}"
            )
        super().__init__(model)
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        if not self.layers:
            raise AttributionValueError("`layers` is empty; name at least one layer")
        self._modules = {name: module_by_name(model, name) for name in self.layers}
        self.model_id = model_id
        self.classifier = classifier if classifier is not None else DefaultClassifier()
        self.classifier_kwargs = classifier_kwargs
        self.layer_attr_method = layer_attr_method
        self.attribute_to_layer_input = attribute_to_layer_input
        self.save_path = save_path
        self.concepts: set[Concept] = set()
        self.cavs: dict[str, dict[str, CAV]] = defaultdict(dict)
        self._activations: dict[tuple[str, str], Tensor] = {}
        if save_path is not None:
            CAV.create_cav_dir_if_missing(save_path, model_id)

    # ------------------------------------------------------------------ activations
    def generate_all_activations(self) -> None:
        """Compute (and store) the activations of every known concept in every layer."""
        for concept in self.concepts:
            self.generate_activation(self.layers, concept)

    def generate_activations(self, concept_layers: dict[Concept, list[str]]) -> None:
        """Compute the activations of each concept in its listed layers."""
        for concept, layers in concept_layers.items():
            self.generate_activation(layers, concept)

    def generate_activation(self, layers: str | list[str], concept: Concept) -> None:
        """Compute ``concept``'s activations in ``layers``: one forward pass per batch for
        all of them, flattened to ``(examples, features)``; kept in memory and, with a
        ``save_path``, written to disk (one file per batch)."""
        layers = [layers] if isinstance(layers, str) else list(layers)
        if concept.data_iter is None:
            raise AttributionValueError(f"concept {concept.identifier!r} has no `data_iter`")
        modules = [self._module(name) for name in layers]
        parts: list[list[Tensor]] = [[] for _ in layers]
        layout = Layout()
        with preserved_state(self.model):
            for i, batch in enumerate(concept.data_iter):
                xs, _ = as_tuple(
                    batch[0] if isinstance(batch, list) and len(batch) == 1 else batch,
                    "concept.data_iter",
                )
                size = auto_rows(self.model, xs, ())
                chunks: list[list[Tensor]] = [[] for _ in layers]
                for start in range(0, xs[0].shape[0], size):
                    rows = tuple(x[start : start + size] for x in xs)
                    values = layout.call(self._values(modules), rows)
                    for chunk, (value, _) in zip(chunks, values):
                        chunk.append(torch.cat([t.reshape(t.shape[0], -1) for t in value], 1))
                acts = [torch.cat(c) for c in chunks]
                if self.save_path is not None:
                    AV.save(self.save_path, self.model_id, concept.identifier, layers, acts, str(i))
                for part, act in zip(parts, acts):
                    part.append(act)
        for name, part in zip(layers, parts):
            if not part:
                raise AttributionValueError(f"concept {concept.identifier!r}: `data_iter` is empty")
            self._activations[(concept.identifier, name)] = torch.cat(part)

    def _values(self, modules: list[nn.Module]) -> Any:
        to_input = self.attribute_to_layer_input
        return lambda rows: layer_values(self.model, modules, rows, (), to_input)

    def _module(self, name: str) -> nn.Module:
        if name not in self._modules:
            self._modules[name] = module_by_name(self.model, name)
        return self._modules[name]

    def _stored(self, concept: Concept, layer: str) -> Tensor | None:
        """The concept's activations in ``layer`` from memory or disk, or ``None``."""
        key = (concept.identifier, layer)
        if key not in self._activations and self.save_path is not None:
            data = AV.load(self.save_path, self.model_id, concept.identifier, layer)
            if data is not None:
                self._activations[key] = torch.cat([data[i] for i in range(len(data))])
        return self._activations.get(key)

    def activations(self, concept: Concept, layer: str) -> Tensor:
        """``concept``'s activations in ``layer``, ``(examples, features)``; computed (for
        every layer of the interpreter in the same pass) only if not stored."""
        found = self._stored(concept, layer)
        if found is None:
            missing = [name for name in self.layers if self._stored(concept, name) is None]
            self.generate_activation(list(dict.fromkeys([*missing, layer])), concept)
            found = self._activations[(concept.identifier, layer)]
        return found

    # --------------------------------------------------------------------- CAVs
    def load_cavs(self, concepts: list[Concept]) -> tuple[list[str], dict[Concept, list[str]]]:
        """Load the stored CAVs of an experimental set; the layers still lacking one and,
        per concept, the layers whose activations are not stored."""
        key = concepts_to_str(concepts)
        layers: list[str] = []
        concept_layers: dict[Concept, list[str]] = defaultdict(list)
        for layer in self.layers:
            if layer not in self.cavs.get(key, {}):
                cav = CAV.load(self.save_path, self.model_id, concepts, layer)
                if cav is not None:
                    self.cavs[key][layer] = cav
            if layer not in self.cavs.get(key, {}):
                layers.append(layer)
                for concept in concepts:
                    if self._stored(concept, layer) is None:
                        concept_layers[concept].append(layer)
        return layers, concept_layers

    def _check_sets(self, experimental_sets: Any) -> list[list[Concept]]:
        if not isinstance(experimental_sets, (list, tuple)) or not experimental_sets:
            raise AttributionTypeError(
                "`experimental_sets` must be a non-empty list of lists of Concepts, got "
                f"{experimental_sets!r}"
            )
        sets = []
        for s in experimental_sets:
            if (
                not isinstance(s, (list, tuple))
                or len(s) < 2
                or not all(isinstance(c, Concept) for c in s)
            ):
                raise AttributionTypeError(
                    f"each experimental set must be a list of at least two Concepts, got {s!r}"
                )
            sets.append(list(s))
        self.concepts.update(c for s in sets for c in s)
        by_id: dict[int, Concept] = {}
        for concept in self.concepts:
            other = by_id.setdefault(concept.id, concept)
            if other is not concept:
                raise AttributionValueError(
                    f"two different concepts have id {concept.id} ({other.name!r} and "
                    f"{concept.name!r}); reuse the same Concept object or give unique ids"
                )
        return sets

    def compute_cavs(
        self,
        experimental_sets: list[list[Concept]],
        force_train: bool = False,
        processes: int | None = None,
    ) -> dict[str, dict[str, CAV]]:
        """Train (or load) the CAVs of every experimental set in every layer.

        ``force_train`` recomputes the activations and retrains; ``processes`` is accepted
        for compatibility and ignored (the work runs in this process, batched: with the
        default classifier all the sets of a layer are fitted together).
        """
        sets = self._check_sets(experimental_sets)
        if force_train:
            self._activations.clear()
            self.generate_all_activations()
        todo: dict[str, list[list[Concept]]] = defaultdict(list)
        for concepts in sets:
            layers = list(self.layers) if force_train else self.load_cavs(concepts)[0]
            for layer in layers:
                if concepts not in todo[layer]:
                    todo[layer].append(concepts)
        for layer, layer_sets in todo.items():
            for concepts, (weights, classes, stats) in zip(
                layer_sets, self._train(layer_sets, layer)
            ):
                cav = CAV(
                    concepts,
                    layer,
                    {"weights": weights, "classes": classes, **stats},
                    self.save_path,
                    self.model_id,
                )
                cav.save()
                self.cavs[concepts_to_str(concepts)][layer] = cav
        return self.cavs

    def _train(self, sets: list[list[Concept]], layer: str) -> list[tuple]:
        """``(weights, classes, stats)`` of each set's classifier in ``layer``."""
        if type(self.classifier) is DefaultClassifier:  # every set in one batched fit
            unique = list({c.identifier: c for s in sets for c in s}.values())
            acts = [self.activations(c, layer) for c in unique]
            rows, start = {}, 0
            for c, a in zip(unique, acts):
                rows[c.identifier] = torch.arange(start, start + len(a))
                start += len(a)
            indices = [torch.cat([rows[c.identifier] for c in s]) for s in sets]
            labels = [
                torch.cat([torch.full((len(rows[c.identifier]),), c.id) for c in s]) for s in sets
            ]
            return self.classifier.fit_sets(
                torch.cat(acts), indices, labels, **self.classifier_kwargs
            )
        out = []
        for concepts in sets:
            acts = [self.activations(c, layer) for c in concepts]
            labels = [
                torch.full((len(a),), c.id, dtype=torch.long, device=a.device)
                for a, c in zip(acts, concepts)
            ]
            loader = DataLoader(list(zip(acts, labels)), batch_size=None)
            stats = self.classifier.train_and_eval(loader, **self.classifier_kwargs)
            weights = self.classifier.weights()
            classes = self.classifier.classes()
            if weights is None or len(weights) == 0:
                raise AttributionValueError("the classifier returned no weights")
            if classes is None or len(classes) == 0:
                raise AttributionValueError("the classifier returned no classes")
            if isinstance(classes, Tensor):
                classes = classes.tolist()
            out.append((weights, list(classes), stats or {}))
        return out

    # -------------------------------------------------------------- sensitivities
    def _sensitivities(
        self, inputs: Any, target: Any, args: Any, kwargs: dict
    ) -> dict[str, Tensor]:
        """Per layer, ``(inputs, features)``: how the target's output changes along the
        layer's activations."""
        if self.layer_attr_method is None:
            xs, _ = as_tuple(inputs)
            grads, _, _ = layer_gradients(
                self.model,
                [self._module(n) for n in self.layers],
                xs,
                format_target(target, xs[0].shape[0]),
                format_additional_args(args),
                self.attribute_to_layer_input,
            )
            return {
                name: torch.cat([g.reshape(g.shape[0], -1) for g in grad], 1)
                for name, grad in zip(self.layers, grads)
            }
        out = {}
        for name in self.layers:
            self.layer_attr_method.layer = self._module(name)
            attribs = self.layer_attr_method.attribute(
                inputs,
                target=target,
                additional_forward_args=args,
                attribute_to_layer_input=self.attribute_to_layer_input,
                **kwargs,
            )
            attribs = attribs if isinstance(attribs, (tuple, list)) else (attribs,)
            out[name] = torch.cat([a.reshape(a.shape[0], -1) for a in attribs], 1)
        return out

    def interpret(
        self,
        inputs: Any,
        experimental_sets: list[list[Concept]],
        target: Any = None,
        additional_forward_args: Any = None,
        processes: int | None = None,
        **kwargs: Any,
    ) -> dict[str, dict[str, dict[str, Tensor]]]:
        """TCAV scores: ``scores[set key][layer] = {"sign_count": (concepts,),
        "magnitude": (concepts,)}``, in the order of each set's concepts (the set key is
        their ids joined by ``-``). ``kwargs`` go to ``layer_attr_method``."""
        if "attribute_to_layer_input" in kwargs:
            raise AttributionValueError(
                "pass `attribute_to_layer_input` to the TCAV constructor, not to `interpret` "
                "(it applies to the activations and the sensitivities alike)"
            )
        sets = self._check_sets(experimental_sets)
        self.compute_cavs(sets, processes=processes)
        with preserved_state(self.model), recurrent_backward_allowed(self.model):
            sens = self._sensitivities(inputs, target, additional_forward_args, kwargs)
        scores: dict[str, dict[str, dict[str, Tensor]]] = defaultdict(dict)
        for layer in self.layers:
            s = sens[layer].float()
            for concepts in sets:
                key = concepts_to_str(concepts)
                stats = self.cavs[key][layer].stats
                weights = torch.as_tensor(stats["weights"]).float().to(s.device)
                row = {cls: i for i, cls in enumerate(stats["classes"])}
                order = torch.tensor([row[c.id] for c in concepts], device=s.device)
                products = s @ weights.index_select(0, order).T  # (inputs, concepts)
                scores[key][layer] = {
                    "sign_count": (products > 0).float().mean(0),
                    "magnitude": products.mean(0),
                }
        return scores


__all__ = ["TCAV", "module_by_name"]
