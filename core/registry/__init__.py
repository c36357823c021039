"""Method names -> specs, metric names -> specs: the one source of every list of methods and
metrics.

Front ends, insights, the metrics, the app and the command line state what they know as
:class:`~perspicio.core._engine.facts.Facts` (inputs, one baseline or a reference population,
feature groups, a window, a layer, a seed) and call :func:`prepare`; the spec of the method
decides which of those facts its ``attribute`` takes and how. None of them branches on a
method's name or family: every list of methods they show is a query of the specs
(:func:`names`, :class:`MethodNames`, :func:`default_method`). Every public attribution class
of :mod:`perspicio.core` is either registered or listed, with the reason, in :data:`EXCLUDED`.

The package, by role: :mod:`.spec` (what a spec is), :mod:`.prepare` (facts -> constructor
and ``attribute`` arguments), :mod:`.methods` (the method table), :mod:`.metrics` (the metric
table) and :mod:`.store` (the registered specs, :func:`register` and the queries).
"""

from .._engine.facts import Facts
from .methods import ALIASES, EXCLUDED
from .prepare import (
    NOISE_TUNNEL,
    Prepared,
    arguments,
    create,
    for_facts,
    instantiate,
    prepare,
)
from .spec import MethodSpec, MetricSpec, Scoring
from .store import (
    HIGHER_IS_BETTER,
    METHODS,
    METRICS,
    MethodNames,
    Registration,
    default_method,
    defaults,
    get_metric,
    get_spec,
    metric_names,
    names,
    register,
    spec_of,
)

__all__ = [
    "ALIASES",
    "EXCLUDED",
    "Facts",
    "HIGHER_IS_BETTER",
    "METHODS",
    "METRICS",
    "MethodNames",
    "MethodSpec",
    "MetricSpec",
    "NOISE_TUNNEL",
    "Prepared",
    "Registration",
    "Scoring",
    "arguments",
    "create",
    "default_method",
    "defaults",
    "for_facts",
    "get_metric",
    "get_spec",
    "instantiate",
    "metric_names",
    "names",
    "prepare",
    "register",
    "spec_of",
]
