"""SimProcess as native kernels (linear filters)."""
