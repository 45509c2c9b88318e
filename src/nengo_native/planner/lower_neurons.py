"""SimNeurons as native kernels, one kernel per neuron type."""
