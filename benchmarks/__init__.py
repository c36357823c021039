"""perspicio vs Captum on the same work, in one process."""
