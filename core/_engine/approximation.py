"""Quadrature rules for path integrals over ``alpha`` in [0, 1].

Each rule returns ``(alphas, weights)``: the points at which the integrand is evaluated and
the weights that sum to 1, so that ``integral_0^1 g(a) da ~= sum_k weights[k] * g(alphas[k])``.
"""

from __future__ import annotations

import numpy as np

from ..errors import AttributionValueError

METHODS = (
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
    "gausslegendre",
)


def approximation_parameters(method: str, n_steps: int) -> tuple[list[float], list[float]]:
    """Points and weights of an ``n_steps`` quadrature rule on [0, 1].

    Parameters
    ----------
    method : str
        One of ``riemann_left``, ``riemann_right``, ``riemann_middle``,
        ``riemann_trapezoid`` and ``gausslegendre``.
    n_steps : int
        Number of evaluation points.

    Examples
    --------
    >>> alphas, weights = approximation_parameters("riemann_middle", 4)
    >>> alphas
    [0.125, 0.375, 0.625, 0.875]
    >>> sum(weights)
    1.0
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise AttributionValueError(f"`n_steps` must be a positive int, got {n_steps!r}")
    n = n_steps
    if method == "riemann_left":
        return [k / n for k in range(n)], [1 / n] * n
    if method == "riemann_right":
        return [(k + 1) / n for k in range(n)], [1 / n] * n
    if method == "riemann_middle":
        return [(k + 0.5) / n for k in range(n)], [1 / n] * n
    if method == "riemann_trapezoid":
        if n < 2:
            raise AttributionValueError(
                "`n_steps` must be at least 2 for method='riemann_trapezoid'"
            )
        h = 1 / (n - 1)
        weights = [h] * n
        weights[0] = weights[-1] = h / 2
        return [k * h for k in range(n)], weights
    if method == "gausslegendre":
        # Legendre nodes x_k on [-1, 1] with weights w_k (sum 2) mapped to [0, 1].
        x, w = np.polynomial.legendre.leggauss(n)
        return list((x + 1) / 2), list(w / 2)
    raise AttributionValueError(f"`method` must be one of {METHODS}, got {method!r}")
