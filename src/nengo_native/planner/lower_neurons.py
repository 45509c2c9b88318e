"""SimNeurons as native kernels, one kernel per neuron type.

Every neuron type nengo 4.1 ships is lowered to a kernel named ``neurons_<name>``
(see ``src/cpp/kernels/neurons.cpp``), which replays the arithmetic of the type's
``step`` so that results match ``nengo.Simulator`` to rounding (spike trains exactly).

StochasticSpiking and PoissonSpiking draw from the `numpy.random.RandomState` that
nengo's builder stores in ``op.state_extra["rng"]``. Its MT19937 state is copied into
the kernel here, at planning time; from then on the C++ kernel owns the stream and the
RandomState left in the nengo model is not advanced by running the simulator. As in
nengo, which never reseeds it, ``Simulator.reset`` does not rewind the stream.

In a minibatch, item 0 draws exactly nengo's stream; item ``b >= 1`` has a stream of
its own, ``nengo_native.seeds.item_rng(s0, b)`` with ``s0 = int(rng.get_state()[1][0])``
(the first word of item 0's MT19937 key when the model is planned). In ``predict``,
item ``b`` of a minibatch restarts from the stream of item ``first_item + b`` of the
whole batch (`SimNeuronsLowering.reseed`), so a batch's result does not depend on how
it is split.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from nengo.builder.neurons import SimNeurons
from nengo.builder.operator import Operator
from nengo.neurons import (
    LIF,
    AdaptiveLIF,
    AdaptiveLIFRate,
    Izhikevich,
    LIFRate,
    PoissonSpiking,
    RectifiedLinear,
    RegularSpiking,
    Sigmoid,
    SpikingRectifiedLinear,
    StochasticSpiking,
    Tanh,
)

from ..seeds import item_rng
from .layout import VEC_FIELDS, Layout, disjoint, ref_fields
from .lower_spiking_train import lower_spiking_training
from .lowering import Lowering, register


@dataclass(frozen=True)
class NeuronModel:
    """How one neuron type maps onto its kernel.

    Attributes
    ----------
    name : str
        Kernel suffix (the kernel is ``neurons_<name>``) and part of the group key.
    states : tuple of str
        The ``op.state`` signals the kernel updates, exactly the type's state names.
    params : tuple of str
        Attributes of the neuron type passed as per-item real arrays.
    rng : bool
        Whether the type draws from ``op.state_extra["rng"]``.
    """

    name: str
    states: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    rng: bool = False


# Exact types only: a subclass may override `step`, so it runs through nengo.
MODELS: dict[type, NeuronModel] = {
    LIF: NeuronModel(
        "lif",
        ("voltage", "refractory_time"),
        ("tau_rc", "tau_ref", "min_voltage", "amplitude"),
    ),
    LIFRate: NeuronModel("lif_rate", (), ("tau_rc", "tau_ref", "amplitude")),
    AdaptiveLIF: NeuronModel(
        "adaptive_lif",
        ("voltage", "refractory_time", "adaptation"),
        ("tau_rc", "tau_ref", "min_voltage", "amplitude", "tau_n", "inc_n"),
    ),
    AdaptiveLIFRate: NeuronModel(
        "adaptive_lif_rate",
        ("adaptation",),
        ("tau_rc", "tau_ref", "amplitude", "tau_n", "inc_n"),
    ),
    RectifiedLinear: NeuronModel("rectified_linear", (), ("amplitude",)),
    SpikingRectifiedLinear: NeuronModel(
        "spiking_rectified_linear", ("voltage",), ("amplitude",)
    ),
    Sigmoid: NeuronModel("sigmoid", (), ("tau_ref",)),
    Tanh: NeuronModel("tanh", (), ("tau_ref",)),
    Izhikevich: NeuronModel(
        "izhikevich",
        ("voltage", "recovery"),
        ("tau_recovery", "coupling", "reset_voltage", "reset_recovery"),
    ),
    RegularSpiking: NeuronModel("regular_spiking", ("voltage",), ("amplitude",)),
    StochasticSpiking: NeuronModel("stochastic_spiking", (), ("amplitude",), rng=True),
    PoissonSpiking: NeuronModel("poisson_spiking", (), ("amplitude",), rng=True),
}


# Training runs replace spiking types by the rate they fire at on average:
# type -> (kernel suffix, parameter names, the states the rate kernel keeps).
def _rate_counterpart(neurons, lif_smoothing):
    if type(neurons) is LIF:
        params = {n: getattr(neurons, n) for n in ("tau_rc", "tau_ref", "amplitude")}
        if lif_smoothing is None:
            return "lif_rate", params, ()
        return "lif_rate_smoothed", {**params, "sigma": lif_smoothing}, ()
    if type(neurons) is AdaptiveLIF:
        names = ("tau_rc", "tau_ref", "amplitude", "tau_n", "inc_n")
        return (
            "adaptive_lif_rate",
            {n: getattr(neurons, n) for n in names},
            ("adaptation",),
        )
    if type(neurons) is SpikingRectifiedLinear:
        return "rectified_linear", {"amplitude": neurons.amplitude}, ()
    # nengo builds these on a rate signal (its base type's op runs first): on average
    # they pass amplitude * rate, rectified when negative rates are not allowed.
    if type(neurons) is RegularSpiking:
        return "linear", {"amplitude": neurons.amplitude}, ()
    if type(neurons) in (StochasticSpiking, PoissonSpiking):
        kind = "linear" if neurons.negative else "rectified_linear"
        return kind, {"amplitude": neurons.amplitude}, ()
    return None


def neuron_model(op: SimNeurons) -> NeuronModel | None:
    """The `NeuronModel` of ``op``'s neuron type, or None if it has no kernel."""
    return MODELS.get(type(op.neurons))


def _mt19937_state(rng) -> tuple[np.ndarray, int] | None:
    """(624 key words, position) of a legacy MT19937 RandomState, else None."""
    if not isinstance(rng, np.random.RandomState):
        return None
    state = rng.get_state(legacy=False)
    if state.get("bit_generator") != "MT19937":
        return None
    key = np.asarray(state["state"]["key"], dtype=np.int64)
    return key, int(state["state"]["pos"])


def _item_states(
    rng, minibatch_size: int, first_item: int = 0
) -> list[tuple[np.ndarray, int]]:
    """MT19937 states of a minibatch's items for an op whose nengo generator is
    ``rng``: item ``b`` is item ``i = first_item + b`` of the whole batch, and item
    ``i == 0`` continues ``rng`` itself (see the module docstring)."""
    planned = _mt19937_state(rng)
    s0 = int(planned[0][0])
    return [
        planned if i == 0 else _mt19937_state(item_rng(s0, i))
        for i in range(first_item, first_item + minibatch_size)
    ]


def _params_ok(neurons, names) -> bool:
    # nengo's NumberParam holds scalars; anything else (monkeypatched) falls back.
    try:
        return all(np.ndim(getattr(neurons, n)) == 0 for n in names)
    except AttributeError:
        return False


def _signal_refs(ops, layout: Layout, states) -> dict[str, np.ndarray]:
    """Vec refs of the ops' J, output and named states, as neuron kernels read them."""
    params = ref_fields("J", [layout.vec_ref(op.J) for op in ops], VEC_FIELDS)
    params.update(
        ref_fields("output", [layout.vec_ref(op.output) for op in ops], VEC_FIELDS)
    )
    for name in states:
        refs = [layout.vec_ref(op.state[name]) for op in ops]
        params.update(ref_fields(name, refs, VEC_FIELDS))
    return params


@register(SimNeurons)
class SimNeuronsLowering(Lowering):
    """SimNeurons of the natively supported neuron types."""

    def group_key(self, op: Operator, layout: Layout) -> Hashable | None:
        model = neuron_model(op)
        if model is None or not _params_ok(op.neurons, model.params):
            return None
        state = op.state
        if set(state) != set(model.states):
            return None
        if set(op.state_extra) != ({"rng"} if model.rng else set()):
            return None
        if model.rng and _mt19937_state(op.state_extra["rng"]) is None:
            return None
        sigs = [op.J, op.output] + [state[name] for name in model.states]
        if not all(layout.is_dense_float(s) for s in sigs):
            return None
        refs = [layout.vec_ref(s) for s in sigs]
        if any(r is None for r in refs) or len({r[1] for r in refs}) != 1:
            return None
        if not disjoint(layout, [op.J], sigs[1:]):
            return None
        return ("neurons", model.name)

    def kernel_kind(self, key: Hashable) -> str:
        return f"neurons_{key[1]}"

    def lower(self, ops: list[Operator], layout: Layout) -> dict[str, np.ndarray]:
        """Kernel parameters: J, output and state vec refs, per-item constants, and
        for random types each op's generator state (copied now: from here on the
        kernel owns the stream).
        """
        model = neuron_model(ops[0])
        params = _signal_refs(ops, layout, model.states)
        for name in model.params:
            params[name] = np.array([float(getattr(op.neurons, name)) for op in ops])
        if model.rng:
            states = [
                state
                for op in ops
                for state in _item_states(op.state_extra["rng"], layout.minibatch_size)
            ]
            params["rng_key"] = np.concatenate([key for key, _ in states])
            params["rng_pos"] = np.array([pos for _, pos in states], dtype=np.int64)
            params["negative"] = np.array(
                [int(bool(op.neurons.negative)) for op in ops]
            )
        return params

    def reseed(self, ops, draws, layout: Layout, first_item=None):
        """On a reset (``first_item`` None) the streams go on, as in nengo; for a
        predict minibatch, each item's stream restarts from the planned state for its
        index in the whole batch."""
        if first_item is None or not neuron_model(ops[0]).rng:
            return None
        states = [
            state
            for op in ops
            for state in _item_states(
                op.state_extra["rng"], layout.minibatch_size, first_item
            )
        ]
        return {
            "rng_key": np.concatenate([key for key, _ in states]),
            "rng_pos": np.array([pos for _, pos in states], dtype=np.int64),
        }

    def lower_training(self, ops, layout, options):
        """The rate counterpart of a spiking type (see `_rate_counterpart`), or
        the spiking-aware training kernel when an op's ensemble asks for it."""
        smoothing = options.get("lif_smoothing")
        spiking = lower_spiking_training(ops, layout, options, _signal_refs)
        if spiking is not None:
            return spiking
        counterparts = [_rate_counterpart(op.neurons, smoothing) for op in ops]
        if counterparts[0] is None or len({c and c[0] for c in counterparts}) > 1:
            return None  # no rate type, or mixed ones (e.g. `negative` differs)
        kind, _, states = counterparts[0]
        params = _signal_refs(ops, layout, states)
        for name in counterparts[0][1]:
            params[name] = np.array([float(c[1][name]) for c in counterparts])
        return f"neurons_{kind}", params
