"""``AttributionVisualizer``: Captum Insights' explorer over the user's own models and data.

The visualizer keeps the models, the classes, the features and an iterator of
:class:`Batch` es from the user's session. :meth:`AttributionVisualizer.examples` draws
examples and scores them (predicted and true label, the top classes with probabilities),
filtered by predicted class and by correct / incorrect prediction;
:meth:`AttributionVisualizer.explain` attributes one example with any perspicio method and
returns, per feature, its share of the total attribution and a picture (heat map, highlighted
tokens, bars). Everything stays in the calling process: no model or data is pickled.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from perspicio.core.frontend import Facts
from perspicio.core.registry import MethodNames, MethodSpec, get_spec, prepare

from .features import BaseFeature, FeatureView


def _explores(spec: MethodSpec) -> bool:
    """A method the explorer offers: it attributes to the inputs of a torch model (not of a
    chosen neuron), one example at a time, every input element a feature."""
    return (
        not spec.tree
        and spec.attributes_inputs
        and not spec.needs_layer
        and spec.min_batch == 1
        and spec.max_features is None
    )


class _MethodArguments(Mapping[str, dict[str, Any]]):
    """``{method: {setting: starting value}}`` for every method the explorer offers: a live,
    read-only view of the registry (the specs' ``settings``)."""

    names = MethodNames(_explores)

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in self.names:
            raise KeyError(name)
        return get_spec(name).settings

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return repr(dict(self))


#: The methods the explorer offers, with the settings a person may change.
METHOD_ARGUMENTS: Mapping[str, dict[str, Any]] = _MethodArguments()


@dataclass
class Batch:
    """A batch of the dataset: one tensor per feature (or a single tensor), the labels, and
    arguments the model needs besides its inputs."""

    inputs: Tensor | Sequence[Tensor]
    labels: Tensor | None = None
    additional_args: Any = None


@dataclass
class Example:
    """One example as the explorer lists it."""

    index: int
    inputs: tuple[Tensor, ...]
    label: int | None
    additional_args: Any
    predictions: list[list[tuple[str, float]]] = field(default_factory=list)  # per model

    def predicted(self, model: int = 0) -> str:
        """The top class of ``model``."""
        return self.predictions[model][0][0]


@dataclass
class ExampleExplanation:
    """One example's attribution by one method and model: a view per feature."""

    example: Example
    method: str
    target: str
    features: list[FeatureView]
    #: the attribution of each feature's input (one row)
    attributions: tuple[Tensor, ...] = ()

    def to_html(self) -> str:
        """Every feature's view with its name and share of the attribution, as the explorer
        shows them (names and the target escaped)."""
        parts = [f"<h4>{html.escape(self.method)} for {html.escape(str(self.target))}</h4>"] + [
            f"<div><b>{html.escape(v.name)}</b>: {v.contribution:.0%} of the attribution"
            f"<div>{v.html}</div></div>"
            for v in self.features
        ]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()


class AttributionVisualizer:
    """Explore attributions of ``models`` on ``dataset`` (Captum Insights' arguments).

    Parameters
    ----------
    models : module or list of modules
        Models taking one tensor per feature (in ``features`` order) plus the batch's
        ``additional_args``.
    classes : list of str
        Class names, by output index.
    features : list of features
        :class:`ImageFeature`, :class:`TextFeature`, :class:`GeneralFeature`, one per input.
    dataset : iterable of Batch
        Read lazily, as the explorer asks for examples.
    score_func : callable, optional
        Model output -> class scores (e.g. a softmax); the output itself by default.
    use_label_for_attr : bool
        Attribute to the true label (if known) rather than the prediction.
    """

    def __init__(
        self,
        models: nn.Module | Sequence[nn.Module],
        classes: Sequence[str],
        features: BaseFeature | Sequence[BaseFeature],
        dataset: Iterable[Batch],
        score_func: Callable[[Tensor], Tensor] | None = None,
        use_label_for_attr: bool = True,
    ) -> None:
        self.models = list(models) if isinstance(models, (list, tuple)) else [models]
        if not self.models or not all(isinstance(m, nn.Module) for m in self.models):
            raise TypeError("`models` must be a torch.nn.Module or a list of them")
        self.classes = list(classes)
        self.features = list(features) if isinstance(features, (list, tuple)) else [features]
        if not all(isinstance(f, BaseFeature) for f in self.features):
            raise TypeError("`features` must be ImageFeature, TextFeature or GeneralFeature")
        self.score_func = score_func
        self.use_label_for_attr = use_label_for_attr
        self._batches = iter(dataset)
        self._examples: list[Example] = []

    # ------------------------------------------------------------------ data
    def _read_batch(self) -> bool:
        try:
            batch = next(self._batches)
        except StopIteration:
            return False
        if not isinstance(batch, Batch):
            raise TypeError(f"`dataset` must yield Batch objects, got {type(batch).__name__}")
        inputs = batch.inputs if isinstance(batch.inputs, (list, tuple)) else (batch.inputs,)
        if len(inputs) != len(self.features):
            raise ValueError(
                f"a Batch holds {len(inputs)} input tensor(s) but {len(self.features)} "
                "feature(s) were given; give one feature per input"
            )
        n = inputs[0].shape[0]
        labels = None if batch.labels is None else torch.as_tensor(batch.labels).reshape(-1)
        prepared = tuple(f.prepare(x) for f, x in zip(self.features, inputs))
        scores = [self._scores(m, prepared, batch.additional_args) for m in self.models]
        for i in range(n):
            top = [
                [(self.classes[int(c)], float(p)) for p, c in zip(*s[i].topk(min(4, len(s[i]))))]
                for s in scores
            ]
            self._examples.append(
                Example(
                    index=len(self._examples),
                    inputs=tuple(x[i : i + 1] for x in inputs),
                    label=None if labels is None else int(labels[i]),
                    additional_args=batch.additional_args,
                    predictions=top,
                )
            )
        return True

    def _scores(self, model: nn.Module, prepared: tuple, extra: Any) -> Tensor:
        extra = () if extra is None else extra if isinstance(extra, tuple) else (extra,)
        with torch.no_grad():
            out = model(*prepared, *extra)
        out = self.score_func(out) if self.score_func is not None else out
        return out.detach().float().cpu()

    def examples(
        self,
        count: int = 4,
        classes: Sequence[str] | None = None,
        correctness: str = "all",
        model: int = 0,
    ) -> list[Example]:
        """Up to ``count`` examples whose predicted class (by ``model``) is in ``classes``
        (all by default) and whose prediction is ``correctness`` ("all", "correct",
        "incorrect"), reading more batches as needed."""
        if correctness not in ("all", "correct", "incorrect"):
            raise ValueError(
                f"`correctness` must be 'all', 'correct' or 'incorrect', got {correctness!r}"
            )
        unknown = [c for c in classes or [] if c not in self.classes]
        if unknown:
            raise ValueError(f"`classes` {unknown} are not among the visualizer's classes")

        def keep(e: Example) -> bool:
            predicted = e.predicted(model)
            if classes and predicted not in classes:
                return False
            if correctness == "all" or e.label is None:
                return correctness == "all"
            right = predicted == self.classes[e.label]
            return right if correctness == "correct" else not right

        found = [e for e in self._examples if keep(e)]
        while len(found) < count and self._read_batch():
            found = [e for e in self._examples if keep(e)]
        return found[:count]

    # --------------------------------------------------------------- serving
    def serve(self, port: int | None = None, blocking: bool = False, address: str = "127.0.0.1"):
        """Show the explorer page at ``http://address:port`` and return the address. The
        page runs in this process on the live models and data (nothing is pickled);
        ``blocking=True`` waits until the process is interrupted."""
        from .server import serve

        url = serve(self, port=port, address=address)
        if blocking:
            import time

            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return url

    def render(self, height: int = 800) -> Any:
        """Show the explorer inside a notebook (an IFrame of :meth:`serve`'s page)."""
        from IPython.display import IFrame

        return IFrame(self.serve(), width="100%", height=height)

    # -------------------------------------------------------------- explain
    def explain(
        self,
        example: Example,
        method: str = "integrated_gradients",
        model: int = 0,
        target: str | None = None,
        **arguments: Any,
    ) -> ExampleExplanation:
        """Attribute ``example`` with ``method`` (a perspicio method name) for ``target``
        (a class name; by default the true label, else the prediction)."""
        if method not in METHOD_ARGUMENTS:
            raise ValueError(f"`method` must be one of {list(METHOD_ARGUMENTS)}, got {method!r}")
        net = self.models[model]
        if target is None:
            use_label = self.use_label_for_attr and example.label is not None
            target = self.classes[example.label] if use_label else example.predicted(model)
        if target not in self.classes:
            raise ValueError(f"`target` {target!r} is not one of the visualizer's classes")
        prepared = tuple(f.prepare(x) for f, x in zip(self.features, example.inputs))
        baselines = tuple(f.baseline(x) for f, x in zip(self.features, prepared))
        settings = METHOD_ARGUMENTS[method]
        window = arguments.pop("window", settings.pop("window", None))  # occlusion's size
        facts = Facts(
            prepared,
            target=self.classes.index(target),
            baseline=baselines,
            window=window,
            additional_forward_args=example.additional_args,
            options=settings,
        )
        attrs = prepare(method, net, facts).attribute(**arguments)
        attrs = attrs if isinstance(attrs, tuple) else (attrs,)
        totals = [float(a.abs().sum()) for a in attrs]
        whole = sum(totals) or 1.0
        views = [
            f.view(x[0], a[0], t / whole)
            for f, x, a, t in zip(self.features, example.inputs, attrs, totals)
        ]
        return ExampleExplanation(example, method, target, views, tuple(a.detach() for a in attrs))

    def explain_models(
        self,
        example: Example,
        method: str = "integrated_gradients",
        target: str | None = None,
        **arguments: Any,
    ) -> list[ExampleExplanation]:
        """:meth:`explain` with every model, for the same target (the true label, else
        the first model's prediction): the explorer shows them side by side."""
        if target is None and not (self.use_label_for_attr and example.label is not None):
            target = example.predicted(0)
        return [
            self.explain(example, method, model=m, target=target, **arguments)
            for m in range(len(self.models))
        ]
