"""Clear refusals for Keras and NengoDL arguments that nengo_native does not take.

A user moving from NengoDL passes arguments by habit; each one we do not support
gets a `TypeError` that names it and says what to do instead, rather than
Python's bare "unexpected keyword argument". The list is in docs/migration.md.
"""

from __future__ import annotations

__all__ = ["ADVICE", "refuse"]

#: (method, argument) -> what to use instead. Method "*" applies to all of them.
ADVICE: dict[tuple[str, str], str] = {
    ("Simulator", "device"): (
        "nengo_native runs on the CPU with OpenMP; choose the thread count with "
        "nengo_native.set_num_threads(n) instead"
    ),
    ("Simulator", "unroll_simulation"): (
        "there is no graph to unroll: remove it (steps run in the C++ core)"
    ),
    ("Simulator", "keras_model"): (
        "there is no Keras model behind nengo_native; use sim.compile/fit/evaluate"
    ),
    ("Simulator", "tensorboard"): "TensorBoard logging is not supported; remove it",
    ("fit", "sample_weight"): (
        "per-sample weights are not supported; use compile(loss_weights=...) for "
        "per-probe weights, or repeat samples in x and y"
    ),
    ("fit", "class_weight"): (
        "class weights are not supported; weight the loss in a custom loss function"
    ),
    ("fit", "stateful"): (
        "stateful=True is not supported in fit: every minibatch starts from the "
        "simulator's current state (NengoDL's stateful=False); remove it"
    ),
    ("fit", "initial_epoch"): "not supported; fit always counts epochs from 0",
    ("fit", "steps_per_epoch"): (
        "not supported; every epoch is one pass over the data (truncate x and y to "
        "train on fewer samples)"
    ),
    (
        "fit",
        "validation_steps",
    ): "not supported; give validation_data of the size you want",
    ("fit", "validation_freq"): "not supported; validation runs after every epoch",
    ("fit", "workers"): "not supported; use nengo_native.set_num_threads(n)",
    (
        "fit",
        "use_multiprocessing",
    ): "not supported; use nengo_native.set_num_threads(n)",
    ("fit", "max_queue_size"): "not supported: data are in-memory arrays",
    ("evaluate", "sample_weight"): "per-sample weights are not supported",
    ("evaluate", "stateful"): (
        "evaluate always starts every minibatch from the simulator's current state; "
        "remove it"
    ),
    ("evaluate", "batch_size"): (
        "the batch size is the Simulator's minibatch_size; build the Simulator with "
        "minibatch_size=... instead"
    ),
    ("evaluate", "callbacks"): "callbacks are only supported in fit",
    ("evaluate", "return_dict"): (
        "evaluate always returns a dict {'loss': ..., '<probe>_loss': ...}; remove it"
    ),
    ("predict", "batch_size"): (
        "the batch size is the Simulator's minibatch_size; build the Simulator with "
        "minibatch_size=... instead"
    ),
    ("predict", "callbacks"): "callbacks are only supported in fit",
    ("save_params", "include_state"): (
        "only trainable parameters are saved; the simulator's state is not (use "
        "sim.reset() and rerun to recreate it)"
    ),
    ("save_params", "include_non_trainable"): (
        "only trainable parameters are saved; the simulator's state is not"
    ),
    ("load_params", "include_state"): (
        "only trainable parameters are saved and loaded; the simulator's state is not"
    ),
    ("load_params", "include_non_trainable"): (
        "only trainable parameters are saved and loaded"
    ),
    ("*", "soft_reset"): (
        "NengoDL's soft_reset is not supported; use sim.reset(seed, "
        "include_trainable=False) to reset the state but keep trained parameters"
    ),
}


#: Arguments accepted when they ask for what nengo_native does anyway.
HARMLESS: dict[str, tuple] = {
    "stateful": (False,),
    "include_state": (False,),
    "include_non_trainable": (None, False),
    "soft_reset": (False,),
    "device": (None,),
}


def refuse(method: str, kwargs: dict) -> None:
    """Raise a TypeError for the first unsupported argument in ``kwargs``.

    Parameters
    ----------
    method : str
        The method the arguments were given to (``"fit"``, ``"Simulator"``, ...).
    kwargs : dict
        The unexpected keyword arguments (nothing happens when empty).
    """
    kwargs = {
        k: v for k, v in kwargs.items() if not any(v is h for h in HARMLESS.get(k, ()))
    }
    if not kwargs:
        return
    name = sorted(kwargs)[0]
    advice = ADVICE.get((method, name)) or ADVICE.get(("*", name))
    where = "Simulator()" if method == "Simulator" else f"{method}()"
    if advice is None:
        raise TypeError(
            f"{where} got an unexpected keyword argument '{name}' (nengo_native does "
            "not support it; see docs/migration.md for the arguments it takes)"
        )
    raise TypeError(f"{where} does not support the argument '{name}': {advice}")
