"""perspicio.apps: the Streamlit app (``perspicio app`` or ``make demo`` starts it)."""
