"""Neuron attribution: what in the input drives one neuron of a layer."""
