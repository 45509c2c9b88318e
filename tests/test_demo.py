import nengo
import numpy as np

from nengo_native import Simulator
from nengo_native.demo import integrator_network, main, time_run


def test_demo_outputs_match_nengo():
    net = integrator_network(dimensions=4, n_neurons=20)
    *_, reference = time_run(nengo.Simulator, net, steps=100, repeats=1)
    *_, native = time_run(Simulator, net, steps=100, repeats=1)
    assert reference.shape == native.shape == (100, 4)
    assert np.allclose(native, reference, rtol=0, atol=1e-12)


def test_demo_prints_speed_ratio(capsys):
    main(["--dimensions", "2", "--neurons", "10", "--steps", "50", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "speed-up:" in out
    assert "max |difference| of probed output: 0" in out
