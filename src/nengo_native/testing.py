"""Simulator variants for running nengo's own test suite against other settings.

nengo's pytest plugin builds simulators from a class named in the ``nengo_simulator``
ini option and passes only nengo's arguments, so a setting nengo's API has no
argument for (the float type) needs a class of its own. CI's second run of nengo's
suite is

.. code-block:: bash

    pytest --pyargs nengo -o nengo_simulator=nengo_native.testing.Simulator32 \\
        -o nengo_test_unsupported="$(cat tests/nengo_float32_unsupported.txt)"
"""

from __future__ import annotations

from .simulator import Simulator


class Simulator32(Simulator):
    """`nengo_native.Simulator` computing in float32 unless a dtype is given.

    nengo's ``rc`` precision setting is ignored: every simulator that nengo's tests
    make runs in single precision.
    """

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, dtype="float32" if dtype is None else dtype, **kwargs)


class SimulatorFast(Simulator):
    """`nengo_native.Simulator` in the throughput mode (``exact=False``) unless told.

    CI runs nengo's suite with it in float64 and, as `SimulatorFast32`, in float32,
    skipping the tests listed in ``tests/nengo_fast_unsupported.txt`` (tests that
    assert bit-equality with nengo or between runs, each with its reason).
    """

    def __init__(self, *args, exact=False, **kwargs):
        super().__init__(*args, exact=exact, **kwargs)


class SimulatorFast32(SimulatorFast):
    """`SimulatorFast` in float32 unless a dtype is given (see `Simulator32`)."""

    def __init__(self, *args, dtype=None, **kwargs):
        super().__init__(*args, dtype="float32" if dtype is None else dtype, **kwargs)
