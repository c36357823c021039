"""Users' callbacks called in every form Captum accepts: how many leading arguments a function
takes decides what it is given (``perturb_func(inputs)`` or ``perturb_func(inputs, radius)``,
``baselines()`` or ``baselines(inputs)``, a custom DeepLift rule of 1 to 3 arguments)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import AttributionTypeError


def _parameters(func: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins and C extensions may have no signature
        return None


def positional_arity(func: Callable[..., Any]) -> tuple[int, float]:
    """``(required, accepted)``: how many positional arguments ``func`` needs and takes at most.

    ``accepted`` is ``inf`` for ``*args`` or a function whose signature cannot be read.

    Examples
    --------
    >>> positional_arity(lambda x, r=0.1: x)
    (1, 2)
    """
    params = _parameters(func)
    if params is None:
        return 0, float("inf")
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return required, float("inf")
    return required, len(positional)


def takes_var_keywords(func: Callable[..., Any]) -> bool:
    """Whether ``func`` accepts ``**kwargs``."""
    params = _parameters(func)
    return params is not None and any(p.kind is p.VAR_KEYWORD for p in params)


def call_leading(
    func: Callable[..., Any],
    *args: Any,
    name: str,
    least: int = 0,
    error: type[Exception] = AttributionTypeError,
) -> Any:
    """Call ``func`` with as many of ``args`` (in order) as it takes, at least ``least``.

    Raises
    ------
    AttributionTypeError
        (or ``error``) when ``func`` needs more arguments than ``args`` holds or takes fewer
        than ``least``: the message names the callback ``name`` and the forms accepted.

    Examples
    --------
    >>> call_leading(lambda x: x + 1, 1, 0.5, name="perturb_func", least=1)
    2
    >>> call_leading(lambda x, r: x + r, 1, 0.5, name="perturb_func", least=1)
    1.5
    """
    required, accepted = positional_arity(func)
    if required > len(args) or accepted < least:
        raise error(
            f"`{name}` must take {least} to {len(args)} arguments; "
            f"it needs {required} and takes at most {accepted}"
        )
    return func(*args[: int(min(accepted, len(args)))])
