"""perspicio.vision: the vision front end (in progress; see the issue tracker)."""
