"""Spiking-aware training: the training counterparts that keep neurons spiking.

For a group of SimNeurons ops in which at least one ensemble has
``spiking_aware_training`` on, the training run uses ``neurons_<name>_train``
(``src/cpp/kernels/neurons_spiking_train.cpp``) with a method per op: 0 the rate
counterpart (ensembles that are not spiking-aware), 1 spiking forward with the rate
counterpart's derivative, 2 spiking forward with a surrogate gradient through the
membrane voltage, 3 the smoothed forward whose exact derivative method 2's backward
is (gradient tests only, option ``smooth_forward``, which also runs "rate" ops as
method 0: the forward whose exact derivative the "rate" backward is).
"""

from __future__ import annotations

import numpy as np
from nengo.builder.neurons import SimNeurons
from nengo.exceptions import BuildError
from nengo.neurons import LIF, AdaptiveLIF, RegularSpiking, SpikingRectifiedLinear

#: Spiking types with a spiking-aware backward: kernel suffix, states, parameters
#: read from the neuron type (``sigma`` and ``slope`` come from the settings).
SPIKING_TRAIN = {
    LIF: (
        "lif",
        ("voltage", "refractory_time"),
        ("tau_rc", "tau_ref", "min_voltage", "amplitude"),
    ),
    AdaptiveLIF: (
        "adaptive_lif",
        ("voltage", "refractory_time", "adaptation"),
        ("tau_rc", "tau_ref", "min_voltage", "amplitude", "tau_n", "inc_n"),
    ),
    SpikingRectifiedLinear: ("spiking_rectified_linear", ("voltage",), ("amplitude",)),
    RegularSpiking: ("regular_spiking", ("voltage",), ("amplitude",)),
}

_METHODS = {None: 0, "rate": 1, "surrogate": 2}
# The smooth forward each method's backward is the exact derivative of: the rate
# counterpart for "rate", the surrogate's smoothed spike for "surrogate".
_SMOOTH = {None: 0, "rate": 0, "surrogate": 3}


def _describe(op: SimNeurons) -> str:
    return f"{type(op.neurons).__name__} neurons ({op.J.name.rsplit('.', 1)[0]})"


def lower_spiking_training(ops, layout, options: dict, signal_refs):
    """``(kind, params)`` of the spiking-aware training kernel for ``ops``, or None
    when no op of the group is spiking-aware.

    Raises
    ------
    nengo.exceptions.BuildError
        When a spiking-aware op's neuron type has no spiking backward pass.
    """
    methods = options.get("spiking_aware") or {}
    chosen = [methods.get(op.output) for op in ops]
    if not any(chosen):
        return None
    entry = SPIKING_TRAIN.get(type(ops[0].neurons))
    if entry is None:
        if not getattr(ops[0].neurons, "spiking", False):
            return None  # rate neurons train as themselves
        names = sorted({_describe(op) for op, m in zip(ops, chosen, strict=True) if m})
        supported = ", ".join(t.__name__ for t in SPIKING_TRAIN)
        raise BuildError(
            "spiking_aware_training has no backward pass for "
            + "; ".join(names)
            + f" (supported: {supported}); turn it off for these ensembles "
            "(net.config[ens].spiking_aware_training = False)"
        )
    name, states, param_names = entry
    smooth = bool(options.get("smooth_forward"))
    params = signal_refs(ops, layout, states)
    params["method"] = np.array(
        [_METHODS[m] if not smooth else _SMOOTH[m] for m in chosen],
        dtype=np.int64,
    )
    for pname in param_names:
        params[pname] = np.array([float(getattr(op.neurons, pname)) for op in ops])
    if name in ("lif", "adaptive_lif"):
        sigma = options.get("lif_smoothing")
        params["sigma"] = np.full(len(ops), 0.0 if sigma is None else float(sigma))
    params["slope"] = np.full(len(ops), float(options.get("surrogate_slope", 5.0)))
    return f"neurons_{name}_train", params
