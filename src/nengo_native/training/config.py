"""Training settings stored in a network's config, and which parameters train.

Settings are attached to a network with `configure_settings` inside a
``with net:`` block, exactly where NengoDL users expect them:

.. code-block:: python

    with nengo.Network() as net:
        nengo_native.configure_settings(trainable=False, lif_smoothing=0.01)
        net.config[nengo.Ensemble].trainable = True   # encoders train
        ...

After the network is built by nengo's builder, `trainable_parameters` says
which built signals the training pass optimizes. This module only reads
configs and a built `nengo.builder.Model`; it never changes either.

How ``trainable`` resolves
--------------------------
The three trainable kinds of object and the signals they own are

==========================  ===========================================  =========
object                      signal                                       name
==========================  ===========================================  =========
`nengo.Ensemble`            ``model.sig[ens]["encoders"]`` (the encoders  encoders
                            already scaled by ``gain / radius``, as
                            nengo's builder stores them; the identity
                            for `nengo.Direct` ensembles)
`nengo.ensemble.Neurons`    ``model.sig[ens.neurons]["bias"]`` (not for   bias
                            `nengo.Direct` ensembles, which have none)
`nengo.Connection`          ``model.sig[conn]["weights"]`` (decoders     weights
                            times transform for decoded connections,
                            the transform otherwise; none when the
                            connection has no weights)
==========================  ===========================================  =========

For one object the value is looked up in the config of every network from the
top-level network down to the network that contains the object. In each config
the lookup is nengo's usual one (``config[obj].trainable``: the value set on
that instance, else the default of the closest configured class); a config that
does not know ``trainable`` for that object contributes nothing. The last
(innermost) value that is not ``None`` wins; when every value is ``None`` the
object is trainable. An ensemble's neurons that get no non-``None`` value
anywhere follow their ensemble.

Note that ``configure_settings(trainable=X)`` sets the class default of
Ensemble, Connection *and* Neurons. So after ``configure_settings(trainable=False)``
and ``net.config[nengo.Ensemble].trainable = True`` the encoders train but the
biases do not, as in NengoDL; set ``net.config[nengo.ensemble.Neurons].trainable``
too if the biases should train.

Signals that a nengo learning rule modifies (a connection's weights, or a post
ensemble's encoders for `nengo.learning_rules.Voja`) are never trained; if such
a signal is explicitly configured trainable, `trainable_parameters` warns and
leaves it out. Connections made by probes are not part of any network and are
never trained.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import nengo
from nengo.builder import Model, Signal
from nengo.exceptions import ConfigError, NetworkContextError, ValidationError
from nengo.params import BoolParam, Parameter

__all__ = [
    "SETTINGS",
    "TrainableParameter",
    "configure_settings",
    "get_setting",
    "trainable_parameters",
]

#: Settings accepted by `configure_settings`, with a one-line description each.
SETTINGS = {
    "trainable": (
        "None, True or False: default trainability of Ensembles (encoders), "
        "Neurons (biases) and Connections (weights) in this network"
    ),
    "lif_smoothing": (
        "None or a positive float: sigma of the smoothed LIF rate curve whose "
        "derivative replaces LIFRate's during training (None: plain LIFRate)"
    ),
    "spiking_aware_training": (
        "None, False, True, 'rate' or 'surrogate': run spiking neurons spiking in "
        "fit, with the rate counterpart's derivative (True, 'rate') or a surrogate "
        "gradient through the membrane voltage ('surrogate'); per ensemble through "
        "the config, like trainable"
    ),
    "surrogate_slope": (
        "a positive float (default 5): slope k of the fast-sigmoid surrogate "
        "1 / (1 + k |v - 1|)^2 of the spike's derivative"
    ),
}

#: Values of ``spiking_aware_training`` and the method each one means.
SPIKING_METHODS = {True: "rate", "rate": "rate", "surrogate": "surrogate"}
DEFAULT_SURROGATE_SLOPE = 5.0

# the classes that get a ``trainable`` parameter
_TRAINABLE_CLASSES = (nengo.Ensemble, nengo.Connection, nengo.ensemble.Neurons)


def _validate(name: str, value: Any) -> Any:
    """Check a setting's value; return it in its stored form."""
    if name == "trainable":
        if value is not None and not isinstance(value, bool):
            raise ValidationError(
                f"must be None, True or False, got {value!r}", attr="trainable"
            )
        return value
    if name == "spiking_aware_training":
        if value is not None and value is not False and value not in SPIKING_METHODS:
            raise ValidationError(
                f"must be None, False, True, 'rate' or 'surrogate', got {value!r}",
                attr=name,
            )
        return value
    # lif_smoothing, surrogate_slope
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (0 < value < float("inf")):
        raise ValidationError(
            f"must be None or a positive finite number, got {value!r}",
            attr=name,
        )
    return float(value)


def _ensure_configured(config: nengo.Config, cls: type):
    """Return ``config[cls]``, configuring the class first if needed."""
    if cls not in config.params:
        config.configures(cls)
    return config[cls]


def configure_settings(**settings: Any) -> None:
    """Set training options on the network whose ``with`` block is open.

    Must be called inside a ``with net:`` block.

    Parameters
    ----------
    trainable : bool or None
        Adds a ``trainable`` parameter to ``config[nengo.Ensemble]``,
        ``config[nengo.Connection]`` and ``config[nengo.ensemble.Neurons]`` of
        the *innermost* open network, with this value as the class default
        (``None`` means "no opinion here": trainable unless something else
        says otherwise). Per-class and per-object values can then be set, e.g.
        ``net.config[ens].trainable = False``. See the module docstring for
        how values from nested networks combine. Calling it again changes the
        class defaults and keeps any per-object values.
    lif_smoothing : float or None
        Stored on the *top-level* open network. When training, `nengo.LIF`
        neurons run as `nengo.LIFRate`; with a value ``sigma`` the gradient
        uses the smoothed rate curve (``sigma`` controls the width of the
        smoothing around the firing threshold) instead of LIFRate's, whose
        derivative is discontinuous at the threshold.
    spiking_aware_training : None, False, True, "rate" or "surrogate"
        Like ``trainable``: a class default for ``config[nengo.Ensemble]`` of
        the innermost open network, overridable per ensemble
        (``net.config[ens].spiking_aware_training = "surrogate"``). Ensembles
        with a true value keep their spiking neurons in `fit`'s forward pass
        (LIF, AdaptiveLIF, SpikingRectifiedLinear, RegularSpiking); the
        gradient is the rate counterpart's derivative at the current input
        (``True`` or ``"rate"``) or flows through the membrane voltage with the
        spike's derivative replaced by a fast sigmoid (``"surrogate"``).
    surrogate_slope : float
        Stored on the top-level network: the slope ``k`` of the surrogate
        ``1 / (1 + k |v - 1|)^2`` (default 5; larger is sharper).

    Raises
    ------
    nengo.exceptions.NetworkContextError
        If no network context is open.
    nengo.exceptions.ConfigError
        If a setting is not one of `SETTINGS`.
    nengo.exceptions.ValidationError
        If a value is not allowed for its setting.
    """
    if len(nengo.Network.context) == 0:
        raise NetworkContextError(
            "configure_settings must be called inside a network context "
            "(`with net: nengo_native.configure_settings(...)`)"
        )
    unknown = sorted(k for k in settings if k not in SETTINGS)
    if unknown:
        valid = ", ".join(f"'{k}'" for k in SETTINGS)
        raise ConfigError(
            f"Unknown nengo_native setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(k) for k in unknown)}; valid settings are {valid}"
        )

    # validate everything before changing anything
    settings = {name: _validate(name, value) for name, value in settings.items()}
    for name, value in settings.items():
        if name == "spiking_aware_training":
            params = _ensure_configured(
                nengo.Network.context[-1].config, nengo.Ensemble
            )
            if name in params.extra_params:
                setattr(params, name, value)
            else:
                params.set_param(name, Parameter(name, value, optional=True))
        elif name == "trainable":
            config = nengo.Network.context[-1].config
            for cls in _TRAINABLE_CLASSES:
                params = _ensure_configured(config, cls)
                if "trainable" in params.extra_params:
                    params.trainable = value
                else:
                    params.set_param(
                        "trainable", BoolParam("trainable", value, optional=True)
                    )
        else:  # lif_smoothing, surrogate_slope: on the top-level network
            params = _ensure_configured(nengo.Network.context[0].config, nengo.Network)
            if name in params.extra_params:
                setattr(params, name, value)
            else:
                params.set_param(name, Parameter(name, value, optional=True))


def get_setting(
    model_or_network: Model | nengo.Network, name: str, default: Any = None
) -> Any:
    """Return a network-wide setting made with `configure_settings`.

    Parameters
    ----------
    model_or_network : nengo.builder.Model or nengo.Network
        The top-level network, or a model built from it (its ``toplevel``).
    name : str
        A key of `SETTINGS` other than ``"trainable"`` (which is per object;
        use `trainable_parameters`).
    default
        Returned when the setting was never made.
    """
    per_object = ("trainable", "spiking_aware_training")
    if name not in SETTINGS or name in per_object:
        raise ConfigError(
            f"{name!r} is not a network-wide setting; choose from "
            f"{', '.join(repr(k) for k in SETTINGS if k not in per_object)}"
        )
    net = model_or_network
    if isinstance(net, Model):
        net = net.toplevel
    if net is None:
        return default
    try:
        return getattr(net.config[nengo.Network], name, default)
    except ConfigError:
        return default


@dataclass(frozen=True, eq=False)
class TrainableParameter:
    """One trainable signal of a built model.

    Attributes
    ----------
    obj : nengo.Ensemble or nengo.ensemble.Neurons or nengo.Connection
        The object that owns the parameter.
    name : str
        ``"encoders"`` (Ensemble), ``"bias"`` (Neurons) or ``"weights"``
        (Connection): the key of the signal in ``model.sig[obj]``.
    signal : nengo.builder.Signal
        The built signal, ``model.sig[obj][name]``. Its ``initial_value`` is
        the untrained value; it is a base signal (not a view) and is marked
        read-only by nengo, so the backend writes the trained value itself.

    Notes
    -----
    Records compare and hash by identity; ``key`` (``(obj, name)``) is a
    stable key for dicts of parameter values, gradients and optimizer state.
    """

    obj: Any
    name: str
    signal: Signal

    @property
    def key(self) -> tuple:
        """``(obj, name)``, unique among the records of one model."""
        return (self.obj, self.name)

    def __repr__(self) -> str:
        return (
            f"TrainableParameter({self.obj!r}, {self.name!r}, "
            f"shape={self.signal.shape})"
        )


# marker for "no config said anything" (distinct from an explicit True)
_UNSET = object()


def _lookup_trainable(configs: list, obj, name: str = "trainable") -> Any:
    """Innermost non-None ``trainable`` (or ``name``) value for ``obj`` in
    ``configs``."""
    value = _UNSET
    for config in configs:  # outermost first, so inner settings override
        try:
            params = config[obj]
        except ConfigError:
            continue  # this config does not configure obj's class
        try:
            v = getattr(params, name)
        except (ConfigError, AttributeError):
            continue  # configured class, but no trainable parameter here
        if v is not None:
            value = v
    return value


def _learning_rule_targets(conn: nengo.Connection) -> list:
    """``(obj, name)`` pairs of the signals ``conn``'s learning rules modify."""
    rules = conn.learning_rule_type
    if rules is None:
        return []
    if isinstance(rules, dict):
        rules = list(rules.values())
    elif not isinstance(rules, (list, tuple)):
        rules = [rules]
    targets = []
    for rule in rules:
        if rule.modifies in ("weights", "decoders"):
            targets.append((conn, "weights"))
        elif rule.modifies == "encoders":
            targets.append((conn.post_obj, "encoders"))
    return targets


def trainable_parameters(
    model: Model, network: nengo.Network | None = None
) -> list[TrainableParameter]:
    """List the parameters of a built model that training optimizes.

    Parameters
    ----------
    model : nengo.builder.Model
        A model after ``model.build(network)``.
    network : nengo.Network, optional
        The top-level network that was built; defaults to ``model.toplevel``.

    Returns
    -------
    list of TrainableParameter
        In a deterministic order: for each network (depth first, a network
        before its subnetworks), its ensembles' encoders and biases, then its
        connections' weights.

    Raises
    ------
    nengo.exceptions.ValidationError
        If no network is given and the model has none, or if an object of the
        network was not built into the model.
    """
    if network is None:
        network = model.toplevel
    if network is None:
        raise ValidationError(
            "the model has no top-level network; pass `network`", attr="network"
        )

    records: list[TrainableParameter] = []
    explicit_true: set = set()

    def signal(obj, name):
        if obj not in model.sig:
            raise ValidationError(
                f"{obj} is not in the built model; build the network first "
                "(model.build(network))",
                attr="model",
            )
        return model.sig[obj].get(name)

    def visit(net: nengo.Network, parent_configs: list):
        configs = parent_configs + [net.config]
        for ens in net.ensembles:
            ens_value = _lookup_trainable(configs, ens)
            ens_on = True if ens_value is _UNSET else ens_value
            sig = signal(ens, "encoders")
            if ens_on and sig is not None:
                records.append(TrainableParameter(ens, "encoders", sig))
                if ens_value is True:
                    explicit_true.add((ens, "encoders"))
            if not isinstance(ens.neuron_type, nengo.Direct):
                n_value = _lookup_trainable(configs, ens.neurons)
                if n_value is _UNSET:
                    n_value = ens_value
                sig = signal(ens.neurons, "bias")
                if (True if n_value is _UNSET else n_value) and sig is not None:
                    records.append(TrainableParameter(ens.neurons, "bias", sig))
        for conn in net.connections:
            value = _lookup_trainable(configs, conn)
            sig = signal(conn, "weights")
            if sig is not None and (True if value is _UNSET else value):
                records.append(TrainableParameter(conn, "weights", sig))
                if value is True:
                    explicit_true.add((conn, "weights"))
        for subnet in net.networks:
            visit(subnet, configs)

    visit(network, [])

    # parameters changed online by a nengo learning rule are not trained
    learned = {
        t for conn in network.all_connections for t in _learning_rule_targets(conn)
    }
    for key in learned & explicit_true:
        warnings.warn(
            f"{key[0]} {key[1]} are modified by a learning rule and were configured "
            "trainable; they are left out of training",
            UserWarning,
            stacklevel=2,
        )
    return [r for r in records if r.key not in learned]


def spiking_aware_methods(model: Model) -> dict:
    """``{neurons' output signal: "rate" or "surrogate"}`` for the ensembles of a
    built model whose ``spiking_aware_training`` setting is on."""
    methods = {}

    def visit(net: nengo.Network, parent_configs: list):
        configs = parent_configs + [net.config]
        for ens in net.ensembles:
            value = _lookup_trainable(configs, ens, "spiking_aware_training")
            if value is _UNSET or value is None or value is False:
                continue
            sig = model.sig.get(ens.neurons, {}).get("out")
            if sig is not None:
                methods[sig] = SPIKING_METHODS[value]
        for subnet in net.networks:
            visit(subnet, configs)

    if model.toplevel is not None:
        visit(model.toplevel, [])
    return methods


def training_options(model: Model, network=None) -> dict:
    """The training settings the planner's training lowerings read."""
    where = model if model.toplevel is not None else network
    slope = get_setting(where, "surrogate_slope")
    return {
        "lif_smoothing": get_setting(where, "lif_smoothing"),
        "spiking_aware": spiking_aware_methods(model),
        "surrogate_slope": DEFAULT_SURROGATE_SLOPE if slope is None else slope,
    }
