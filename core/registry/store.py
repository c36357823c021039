"""The registered methods and metrics, and every query of them.

The tables start as :mod:`.methods` and :mod:`.metrics` write them; :func:`register` adds a
spec (reversibly: the returned :class:`Registration` is a context manager that takes it away
again). Front ends keep no lists of their own: :class:`MethodNames` is a live, read-only view
of the names a query selects, so a method registered at run time appears in every list whose
query it answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from ..errors import AttributionTypeError, AttributionValueError
from .methods import ALIASES, TABLE
from .spec import MethodSpec, MetricSpec, _parameters, fallback_family

_METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in TABLE}
_METRICS: dict[str, MetricSpec] = {}
_METRICS_LOADED: list[bool] = []

#: Every registered method, by name (a read-only, live mapping).
METHODS: Mapping[str, MethodSpec] = MappingProxyType(_METHODS)


def _metric_table() -> dict[str, MetricSpec]:
    """The metric table, read on first use (the metric functions import the registry's
    users, so the table is not read while the registry itself is being imported)."""
    if not _METRICS_LOADED:
        from .metrics import TABLE as METRIC_TABLE

        for spec in METRIC_TABLE:
            _METRICS.setdefault(spec.name, spec)
        _METRICS_LOADED.append(True)
    return _METRICS


class _MetricView(Mapping[str, MetricSpec]):
    """Every registered metric, by name (read-only, live)."""

    def __getitem__(self, name: str) -> MetricSpec:
        return _metric_table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(_metric_table()))

    def __len__(self) -> int:
        return len(_metric_table())

    def __repr__(self) -> str:
        return f"METRICS({list(self)})"


#: Every registered metric, by name (a read-only, live mapping).
METRICS: Mapping[str, MetricSpec] = _MetricView()


# ------------------------------------------------------------------ registering
class Registration:
    """A registered spec; ``unregister()`` (or leaving the ``with`` block) takes it away and
    restores whatever the name meant before."""

    def __init__(self, table: dict[str, Any], spec: Any, previous: Any) -> None:
        self.table, self.spec, self.previous = table, spec, previous
        self.active = True

    def unregister(self) -> None:
        if not self.active:
            return
        self.active = False
        if self.table.get(self.spec.name) is not self.spec:
            return  # replaced since: the newer registration owns the name
        if self.previous is None:
            del self.table[self.spec.name]
        else:
            self.table[self.spec.name] = self.previous

    def __enter__(self) -> Any:
        return self.spec

    def __exit__(self, *exc: Any) -> None:
        self.unregister()

    def __repr__(self) -> str:
        state = "registered" if self.active else "unregistered"
        return f"<Registration of {self.spec.name!r} ({state})>"


def register(spec: MethodSpec | MetricSpec, *, replace: bool = False) -> Registration:
    """Add a method's or a metric's spec to the registry; every list of methods (or metrics)
    that its properties answer shows it from now on.

    The result is a context manager: leaving the ``with`` block unregisters the spec (for
    tests, or a user's method for one piece of work). ``replace=True`` lets the spec take
    over a registered name until it is unregistered.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> from perspicio.core.registry import MethodSpec, names, register
    >>> class Gradient(Saliency):
    ...     '''The signed gradient.'''
    ...     def attribute(self, inputs, target=None, abs=False, additional_forward_args=None):
    ...         return super().attribute(inputs, target, abs, additional_forward_args)
    >>> spec = MethodSpec("signed_gradient", Gradient, "gradient", input_gradients=True)
    >>> with register(spec):
    ...     "signed_gradient" in names(family="gradient")
    True
    >>> "signed_gradient" in names()
    False
    """
    if isinstance(spec, MethodSpec):
        table = _METHODS
        if spec.name in ALIASES or spec.name.startswith("noise_tunnel:"):
            raise AttributionValueError(
                f"`spec`: {spec.name!r} is an alias of a method (or the noise tunnel's prefix); "
                "choose another name"
            )
    elif isinstance(spec, MetricSpec):
        table = _metric_table()
    else:
        raise AttributionTypeError(
            f"`spec` must be a MethodSpec or a MetricSpec, got {type(spec).__name__}"
        )
    previous = table.get(spec.name)
    if previous is not None and not replace:
        kind = "method" if isinstance(spec, MethodSpec) else "metric"
        raise AttributionValueError(
            f"`spec`: a {kind} named {spec.name!r} is registered already; unregister it first "
            "or pass replace=True"
        )
    table[spec.name] = spec
    return Registration(table, spec, previous)


# ------------------------------------------------------------------ methods
def get_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of a method name (raises ``ValueError`` for unknown names)."""
    if not isinstance(name, str):
        raise AttributionTypeError(f"`method` must be a method name, got {type(name).__name__}")
    key = ALIASES.get(name, name)
    if key not in _METHODS:
        raise AttributionValueError(
            f"`method` {name!r} is not a known method; known: {sorted(_METHODS)}"
        )
    return _METHODS[key]


def spec_of(cls: type) -> MethodSpec:
    """The spec of a method class; an unregistered subclass of a registered one gets its
    parent's spec, any other class a spec read from its base class and its ``attribute``
    signature."""
    for klass in cls.__mro__:
        for spec in _METHODS.values():
            if spec.cls is klass:
                return spec if klass is cls else replace(spec, name=cls.__name__, cls=cls)
    takes = _parameters(cls)
    return MethodSpec(
        cls.__name__, cls, fallback_family(cls), "single" if "baselines" in takes else "none"
    )


def names(**properties: Any) -> tuple[str, ...]:
    """The registered names whose spec has every given property, e.g.
    ``names(attributes_inputs=True, needs_layer=False)``."""
    return tuple(
        n for n, s in _METHODS.items() if all(getattr(s, k) == v for k, v in properties.items())
    )


def defaults(context: str) -> tuple[str, ...]:
    """The methods declared the default for ``context`` (see ``MethodSpec.default_for``),
    in the table's order."""
    return tuple(n for n, s in _METHODS.items() if context in s.default_for)


def default_method(context: str) -> str:
    """The one default method of ``context`` (``"image"``, ``"text"``, ``"table"``...).

    Examples
    --------
    >>> default_method("text")
    'layer_integrated_gradients'
    """
    found = defaults(context)
    if len(found) != 1:
        known = sorted({c for s in _METHODS.values() for c in s.default_for})
        raise AttributionValueError(
            f"`context` {context!r} has {len(found)} default methods {list(found)}, expected "
            f"one; contexts: {known}"
        )
    return found[0]


class MethodNames(Sequence[str]):
    """A live, read-only view of the registered names whose spec ``query`` selects (in the
    table's order, or sorted): a method registered later appears in it.

    Examples
    --------
    >>> gradient = MethodNames(lambda spec: spec.family == "gradient")
    >>> "saliency" in gradient, len(gradient) > 5
    (True, True)
    """

    def __init__(self, query: Callable[[MethodSpec], bool], sort: bool = False) -> None:
        self._query, self._sort = query, sort

    def _names(self) -> tuple[str, ...]:
        found = [n for n, s in _METHODS.items() if self._query(s)]
        return tuple(sorted(found) if self._sort else found)

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (MethodNames, tuple, list)):
            return self._names() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # live: its contents change

    def __add__(self, other: Sequence[str]) -> tuple[str, ...]:
        return self._names() + tuple(other)

    def __repr__(self) -> str:
        return repr(self._names())


# ------------------------------------------------------------------ metrics
def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of a metric name (raises ``ValueError`` for unknown names)."""
    table = _metric_table()
    if not isinstance(name, str):
        raise AttributionTypeError(f"`metric` must be a metric name, got {type(name).__name__}")
    if name not in table:
        raise AttributionValueError(f"unknown metric {name!r}; known: {sorted(table)}")
    return table[name]


def metric_names(**properties: Any) -> tuple[str, ...]:
    """The registered metric names whose spec has every given property, e.g.
    ``metric_names(family="faithfulness")``."""
    return tuple(
        n
        for n, s in _metric_table().items()
        if all(getattr(s, k) == v for k, v in properties.items())
    )


class _Directions(Mapping[str, bool]):
    """``{metric: higher is better}`` over the metric registry (read-only, live)."""

    def __getitem__(self, name: str) -> bool:
        return _metric_table()[name].higher_is_better

    def __iter__(self) -> Iterator[str]:
        return iter(list(_metric_table()))

    def __len__(self) -> int:
        return len(_metric_table())

    def __repr__(self) -> str:
        return repr(dict(self))


#: ``{metric: whether a higher value is better}``, a live view of the metric registry.
HIGHER_IS_BETTER: Mapping[str, bool] = _Directions()
