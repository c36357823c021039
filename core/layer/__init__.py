"""Layer attribution: which neurons of a layer matter for the output."""
