"""Copies and resets: the shortcut for whole unit-stride vectors plans what the general
element-offset path plans."""

import nengo
import numpy as np
import pytest

from nengo_native.planner import lower_copy, plan_model


def _copy_heavy_network():
    with nengo.Network(seed=4) as net:
        stim = nengo.Node(np.sin, size_out=1)
        arrays = [nengo.networks.EnsembleArray(20, 4) for _ in range(2)]
        nengo.Connection(stim, arrays[0].input[1])
        nengo.Connection(arrays[0].output, arrays[1].input[::-1])  # a reversed slice
        nengo.Connection(arrays[1].output[[0, 0, 2]], arrays[0].input[:3])  # repeats
        node = nengo.Node(size_in=4)
        nengo.Connection(arrays[1].output, node, synapse=None)
        nengo.Connection(node, arrays[0].input, transform=0.5)
        nengo.Connection(stim, node, transform=np.ones((4, 1)))  # broadcast
        nengo.Probe(node)
    return net


def _copy_params(monkeypatch, shortcut: bool, minibatch_size: int):
    if not shortcut:
        monkeypatch.setattr(lower_copy, "copy_runs", lambda op, layout: None)
        monkeypatch.setattr(lower_copy, "unit_run", lambda sig, layout: None)
    program = plan_model(_copy_heavy_network(), minibatch_size=minibatch_size)
    monkeypatch.undo()
    return [
        (step.kind, step.params)
        for step in program.steps
        if getattr(step, "kind", None) in ("copy", "reset")
    ]


@pytest.mark.parametrize("minibatch_size", [1, 3])
def test_unit_stride_shortcut_plans_the_general_paths_segments(
    monkeypatch, minibatch_size
):
    ours = _copy_params(monkeypatch, True, minibatch_size)
    general = _copy_params(monkeypatch, False, minibatch_size)
    assert [kind for kind, _ in ours] == [kind for kind, _ in general]
    assert {kind for kind, _ in ours} == {"copy", "reset"}
    for (_, mine), (_, theirs) in zip(ours, general, strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert np.array_equal(mine[key], value), key
            assert np.asarray(mine[key]).dtype == np.asarray(value).dtype, key
