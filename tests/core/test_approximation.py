import math

import pytest

from perspicio.core._engine.approximation import METHODS, approximation_parameters


@pytest.mark.parametrize("method", METHODS)
def test_weights_sum_to_one_and_integrate_polynomials(method):
    alphas, weights = approximation_parameters(method, 64)
    assert math.isclose(sum(weights), 1.0, rel_tol=1e-12)
    assert all(0 <= a <= 1 for a in alphas)
    integral = sum(w * a**2 for a, w in zip(alphas, weights))
    assert math.isclose(integral, 1 / 3, abs_tol=2e-2)


def test_gauss_legendre_is_exact_for_high_degree():
    alphas, weights = approximation_parameters("gausslegendre", 5)  # exact to degree 9
    assert math.isclose(sum(w * a**9 for a, w in zip(alphas, weights)), 0.1, rel_tol=1e-12)


def test_trapezoid_needs_two_points():
    with pytest.raises(ValueError, match="at least 2"):
        approximation_parameters("riemann_trapezoid", 1)
