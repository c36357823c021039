"""perspicio.text: the text front end (in progress; see the issue tracker)."""
