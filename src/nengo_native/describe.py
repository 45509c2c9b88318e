"""Names of operators and Program steps in messages, by the nengo objects behind
them."""

from __future__ import annotations

import nengo


def output_owners(model) -> dict:
    """``{(id(base), elemoffset): obj}`` for the output signal of every node and
    ensemble's neurons in ``model``: the object an operator writing there works for."""
    owners = {}
    for obj, sigs in model.sig.items():
        if isinstance(obj, (nengo.ensemble.Neurons, nengo.Node)) and "out" in sigs:
            sig = sigs["out"]
            if sig is not None:
                owners[(id(sig.base), sig.elemoffset)] = obj
    return owners


def owner_of(op, owners: dict):
    """The node or neurons whose output ``op`` writes, or None (see
    `output_owners`)."""
    out = getattr(op, "output", None)
    return None if out is None else owners.get((id(out.base), out.elemoffset))


def describe_ops(model, ops) -> str:
    """The nengo objects behind ``ops``, for one message (ten at most)."""
    owners = output_owners(model)
    names = []
    for op in ops:
        owner = owner_of(op, owners)
        if isinstance(owner, nengo.ensemble.Neurons):
            owner = owner.ensemble
        if hasattr(op, "neurons"):
            what = f"{type(op.neurons).__name__} neurons"
        elif hasattr(op, "process"):
            what = f"process {type(op.process).__name__}"
        else:
            what = type(op).__name__ + (f" '{op.tag}'" if op.tag else "")
        names.append(what if owner is None else f"{what} of {owner}")
    unique = list(dict.fromkeys(names))
    text = "; ".join(unique[:10])
    return text + (f"; and {len(unique) - 10} more" if len(unique) > 10 else "")


def describe_node(model, op) -> str:
    """The node whose function ``op`` runs (``Node 'label'``), else the op."""
    owner = owner_of(op, output_owners(model))
    if not isinstance(owner, nengo.Node):
        return str(op)
    return str(owner) if owner.label is None else f"Node '{owner.label}'"


def describe_step(step) -> str:
    """A Program step by its first operator (neuron type, or operator type)."""
    ops = getattr(step, "ops", None) or [step.op]
    op = ops[0]
    neurons = getattr(op, "neurons", None)
    if neurons is not None:
        return f"{type(neurons).__name__} neurons ({op.tag or op})"
    return f"{type(op).__name__} ({op.tag or op})"


def describe_fallbacks(model, ops) -> str:
    """The warning for operators that run through nengo's Python code."""
    return (
        f"{len(ops)} operator(s) have no native kernel and run through nengo's "
        "Python code (slower, and not trainable through): "
        f"{describe_ops(model, ops)}. sim.fallback_operators lists them."
    )
