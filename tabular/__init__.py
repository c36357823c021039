"""perspicio.tabular: the tabular front end (in progress; see the issue tracker)."""
