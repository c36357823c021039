"""Captum as a test oracle (the dev extra). Tests that need it skip without it."""

import pytest

captum_attr = pytest.importorskip("captum.attr")
