"""The machinery shared by perspicio.core's algorithms (private: no stable API).

Front ends reach what they need of it through :mod:`perspicio.core.frontend`.
"""
