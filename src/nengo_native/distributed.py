"""Batches and parameter sweeps on a Ray cluster.

```python
from nengo_native.distributed import Cluster

with Cluster() as cluster:                   # a local Ray; Cluster("auto") joins one
    out = cluster.predict(net, {stim: x}, minibatch_size=32, seed=0)
    results = cluster.map(run_trial, params)  # fn(item) on the workers, in order
```

- ``predict`` splits the batch into minibatches. Each worker is a Ray actor that
  builds the simulator once and runs many minibatches; nengo's build of the network
  runs once in the caller, and the built model and the data are put in the object
  store once and reach each node once. Item ``i`` of the batch gets
  the random streams of item ``i`` of the whole batch (the simulator's seed and
  ``i``), as in a local ``Simulator.predict``, so the result does not depend on the
  minibatch size, the number of workers or the order in which minibatches finish.
- A worker or node that dies mid-call: its minibatches run again on the other
  workers (``predict``) or are retried by Ray (``map``), with the same result. An
  error in the user's model or function is raised in the caller as a `WorkError`
  naming the item(s), with the worker's traceback; Ctrl-C cancels the outstanding
  work and leaves the cluster usable. A call either returns everything or raises.

Needs the ``ray`` extra: ``pip install "nengo-native[ray]"``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

try:
    import ray
    from ray.exceptions import RayError, RayTaskError
except ImportError as error:  # pragma: no cover - exercised with ray hidden
    raise ImportError(
        "nengo_native.distributed needs Ray, which is not installed; install the "
        'extra with `pip install "nengo-native[ray]"` (or `pip install ray`)'
    ) from error

import numpy as np
from nengo.utils.numpy import maxint
from nengo.utils.progress import Progress, ProgressTracker

__all__ = ["Cluster", "WorkError"]

# Minibatches queued on each worker beyond the one it runs: hides the round trip.
_QUEUED_PER_WORKER = 1
# Times one minibatch may be lost with its worker before the call gives up.
_MAX_LOST = 3
# How long ray.wait blocks between checks for Ctrl-C.
_POLL_S = 0.2


class WorkError(RuntimeError):
    """An error raised by the user's model or function on a worker.

    ``items`` are the indices (in the caller's batch or item list) of the work that
    failed, ``item`` the item itself for `Cluster.map`; ``__cause__`` is the original
    exception (an instance of its type, carrying the worker's traceback).
    """

    def __init__(self, message: str, items: range | list, item: Any = None):
        super().__init__(message)
        self.items = items
        self.item = item


def _remote_cause(error: RayTaskError) -> tuple[BaseException, str]:
    """The original exception of a task error and the worker's traceback text."""
    try:
        cause = error.as_instanceof_cause()
    except Exception:  # noqa: BLE001 - a cause Ray cannot rebuild
        cause = error
    return cause, str(error)


class _PredictWorker:
    """A Ray actor: builds the simulator of a job once, then runs its minibatches."""

    def __init__(self):
        self._key = None
        self._job = None
        self._sim = None

    def pid(self) -> int:
        return os.getpid()

    def run(self, job_box: list, k: int) -> tuple[dict, float, float]:
        """Minibatch ``k`` of the job; returns ``{probe index: array}``, the seconds
        spent running it and the seconds spent building the simulator (0 after the
        first minibatch)."""
        from .simulator import Simulator

        (job_ref,) = job_box
        start = time.perf_counter()
        if self._key != job_ref.hex():
            if self._sim is not None:
                self._sim.close()
            self._sim = None
            self._job = ray.get(job_ref)  # once per worker; arrays map the store
            self._key = job_ref.hex()
        model, data, minibatch_size, n_steps, kwargs = self._job
        built = start
        if self._sim is None:
            # the caller's build, operator order included: unseeded processes draw
            # their seeds in that order, so every worker must have the same
            self._sim = Simulator(
                None,
                model=model,
                optimize=False,
                minibatch_size=minibatch_size,
                progress_bar=False,
                **kwargs,
            )
            net = model.toplevel
            self._nodes = net.all_nodes
            self._probe_index = {p: i for i, p in enumerate(net.all_probes)}
            built = time.perf_counter()
        sim = self._sim
        part = slice(k * minibatch_size, (k + 1) * minibatch_size)
        if isinstance(data, dict):
            x = {self._nodes[i]: value[part] for i, value in data.items()} or None
        else:
            x = None if data is None else data[part]
        out = sim.predict_on_batch(x, n_steps, first_item=k * minibatch_size)
        result = {self._probe_index[p]: value for p, value in out.items()}
        return result, time.perf_counter() - built, built - start


def _build(net, dt: float, optimize: bool):
    """nengo's build of ``net`` (and its operator merging), as the simulator does.

    It runs once, here: nengo's optimizer merges operators in an order that can
    change from one process to another, and unseeded processes draw their seeds in
    operator order, so workers building for themselves could disagree.
    """
    import nengo
    from nengo.builder.optimizer import optimize as merge
    from nengo.cache import NoDecoderCache, get_default_decoder_cache
    from nengo.utils.simulator import operator_dependency_graph

    model = nengo.builder.Model(
        dt=float(dt),
        label=f"{net}, dt={float(dt):f}",
        decoder_cache=get_default_decoder_cache(),
    )
    model.build(net)
    if optimize:
        merge(model, operator_dependency_graph(model.operators))
    model.decoder_cache = NoDecoderCache()  # a file cache: not for other machines
    return model


def _apply(fn: Callable, item: Any) -> Any:
    return fn(item)


class Cluster:
    """A Ray cluster for `predict` batches and `map` sweeps; a context manager.

    Parameters
    ----------
    address : str, optional
        None starts a local Ray on this machine (stopped again by `shutdown`);
        ``"auto"`` or ``"HOST:PORT"`` joins a running cluster (`shutdown` only
        disconnects, leaving it running). When this process is already connected to
        Ray, that connection is used and left alone.
    num_workers : int, optional
        Workers (one CPU each) for `predict`; default: the cluster's CPUs.
    progress_bar : bool or nengo.utils.progress.ProgressBar, optional
        Progress over minibatches (`predict`) or items (`map`).
    **ray_init_kwargs
        Passed to ``ray.init`` (e.g. ``num_cpus``, ``object_store_memory``).
    """

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        *,
        progress_bar=True,
        **ray_init_kwargs,
    ):
        if num_workers is not None and int(num_workers) < 1:
            raise ValueError(f"num_workers must be at least 1 (got {num_workers})")
        self.address = address
        self._num_workers = None if num_workers is None else int(num_workers)
        self.progress_bar = progress_bar
        self._init_kwargs = ray_init_kwargs
        self._owns = False
        self._connected = False
        self.stats: dict = {}  # timings of the last call (see bench/cluster.py)

    # -- lifetime -------------------------------------------------------------------

    def start(self) -> Cluster:
        if self._connected:
            return self
        if ray.is_initialized():
            self._owns = False  # someone else's connection: leave it as it is
        else:
            kwargs = dict(self._init_kwargs)
            kwargs.setdefault("include_dashboard", False)
            kwargs.setdefault("log_to_driver", True)
            if self.address is None:
                if self._num_workers is not None:
                    kwargs.setdefault("num_cpus", self._num_workers)
                # a local Ray of our own, even if another one runs on this machine
                ray.init(address="local", **kwargs)
            else:
                kwargs.pop("include_dashboard")
                ray.init(address=self.address, **kwargs)
            self._owns = True
        self._connected = True
        return self

    def shutdown(self) -> None:
        """Stop a local Ray started here; disconnect from a joined cluster."""
        if self._connected and self._owns:
            ray.shutdown()
        self._connected = False
        self._owns = False

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    @property
    def num_workers(self) -> int:
        """Workers a call uses: ``num_workers``, else the cluster's CPUs."""
        if self._num_workers is not None:
            return self._num_workers
        self._require()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _require(self) -> None:
        if not self._connected:
            raise RuntimeError("the cluster is not started (use `with Cluster() as c`)")

    # -- predict --------------------------------------------------------------------

    def predict(
        self,
        net,
        data=None,
        *,
        minibatch_size: int,
        n_steps: int | None = None,
        batch_size: int | None = None,
        **simulator_kwargs,
    ) -> dict:
        """``Simulator(net, minibatch_size, **simulator_kwargs).predict(data,
        n_steps)``, with the minibatches spread over the cluster's workers.

        Parameters
        ----------
        net : nengo.Network
            The model. nengo builds it once, here (``dt``, ``optimize`` taken from
            ``simulator_kwargs``); the built model and the data reach each node once
            through the object store (with cloudpickle).
        data : dict or array, optional
            ``{node: array (batch, n_steps, node.size_out)}``, or one array for a
            model with one input node; ``batch`` a multiple of ``minibatch_size``.
        minibatch_size : int
            Items each worker runs at once.
        n_steps : int, optional
            Steps; taken from ``data`` when given.
        batch_size : int, optional
            Items of a batch without input data (e.g. noise trials), with
            ``n_steps``.
        **simulator_kwargs
            For `nengo_native.Simulator` (``seed``, ``dt``, ``dtype``, ...). Without
            a seed (and a network seed) one is drawn here, so every worker uses it.

        Returns
        -------
        dict
            ``{probe: array (batch, samples, *probe shape)}`` in the caller's item
            order, equal bit for bit to the local ``predict`` with the same seed.
        """
        self._require()
        minibatch_size = int(minibatch_size)
        if minibatch_size < 1:
            raise ValueError(
                f"minibatch_size must be at least 1 (got {minibatch_size})"
            )
        if "minibatch_size" in simulator_kwargs or "progress_bar" in simulator_kwargs:
            raise TypeError(
                "minibatch_size is a keyword of predict; progress_bar of Cluster"
            )
        kwargs = dict(simulator_kwargs)
        if kwargs.get("seed") is None:
            kwargs["seed"] = (
                np.random.randint(maxint) if net.seed is None else net.seed + 1
            )
        # Inputs by node index in net.all_nodes, outputs by probe index: the objects
        # themselves are copies on the workers.
        if isinstance(data, dict):
            data = {k: v for k, v in data.items()}
            nodes = {node: i for i, node in enumerate(net.all_nodes)}
            missing = [node for node in data if node not in nodes]
            if missing:
                raise ValueError(
                    f"data for nodes that are not in the network: {missing}"
                )
            data = {nodes[node]: np.asarray(value) for node, value in data.items()}
            sizes = {len(v) for v in data.values()}
        elif data is not None:
            data = np.asarray(data)
            sizes = {len(data)}
        else:
            sizes = set()
        if not sizes:
            if batch_size is None or n_steps is None:
                raise ValueError("give data, or batch_size and n_steps")
            sizes = {int(batch_size)}
        if len(sizes) > 1:
            raise ValueError(
                f"all inputs must have the same batch size (got {sorted(sizes)})"
            )
        (batch,) = sizes
        if batch == 0 or batch % minibatch_size:
            raise ValueError(
                f"batch size {batch} is not a positive multiple of "
                f"minibatch_size {minibatch_size}"
            )
        n_batches = batch // minibatch_size
        probes = net.all_probes

        started = time.perf_counter()
        model = _build(net, kwargs.pop("dt", 0.001), kwargs.pop("optimize", True))
        build_s = time.perf_counter() - started
        job_ref = ray.put((model, data, minibatch_size, n_steps, kwargs))
        n_workers = min(self.num_workers, n_batches)
        actor_cls = ray.remote(num_cpus=1, max_restarts=0)(_PredictWorker)
        workers = [actor_cls.remote() for _ in range(n_workers)]
        results: list = [None] * n_batches
        lost = [0] * n_batches
        sim_time = build_time = driver_time = 0.0
        first_result = None
        pending = deque(range(n_batches))
        free = deque(w for w in workers for _ in range(1 + _QUEUED_PER_WORKER))
        in_flight: dict = {}  # ref -> (worker, k)
        starting: dict = {}  # ready ref of a replacement worker -> worker
        progress = Progress("Predicting on the cluster", "Prediction", n_batches)
        try:
            with ProgressTracker(self.progress_bar, progress) as tracker:
                done = 0
                loop_start = time.perf_counter()
                while done < n_batches:
                    while pending and free:
                        worker, k = free.popleft(), pending.popleft()
                        in_flight[worker.run.remote([job_ref], k)] = (worker, k)
                    if not in_flight and not starting:
                        raise RuntimeError("no worker is left to run the minibatches")
                    driver_time += time.perf_counter()
                    ready, _ = ray.wait(
                        [*in_flight, *starting], num_returns=1, timeout=_POLL_S
                    )
                    driver_time -= time.perf_counter()
                    for ref in ready:
                        if ref in starting:
                            worker = starting.pop(ref)
                            try:
                                ray.get(ref)
                            except RayError:
                                continue  # it did not start either
                            workers.append(worker)
                            free.extend([worker] * (1 + _QUEUED_PER_WORKER))
                            continue
                        worker, k = in_flight.pop(ref)
                        try:
                            out, seconds, build = ray.get(ref)
                        except RayTaskError as error:
                            cause, text = _remote_cause(error)
                            items = range(k * minibatch_size, (k + 1) * minibatch_size)
                            raise WorkError(
                                f"the model raised {type(cause).__name__} in minibatch "
                                f"{k} (items {items.start} to {items.stop - 1} of the "
                                f"batch):\n{text}",
                                items,
                            ) from cause
                        except RayError as error:
                            # the worker (or its node) died: run k elsewhere
                            lost[k] += 1
                            if lost[k] > _MAX_LOST:
                                raise RuntimeError(
                                    f"minibatch {k} was lost with its worker "
                                    f"{lost[k]} times"
                                ) from error
                            pending.appendleft(k)
                            if worker in workers:
                                workers.remove(worker)
                                while worker in free:
                                    free.remove(worker)
                                ray.kill(worker, no_restart=True)
                                new = actor_cls.remote()
                                starting[new.pid.remote()] = new
                            continue
                        results[k] = out
                        sim_time += seconds
                        build_time += build
                        if first_result is None:
                            first_result = time.perf_counter() - started
                        free.append(worker)
                        done += 1
                        tracker.total_progress.step()
                driver_time += time.perf_counter() - loop_start
        finally:
            # Whatever happened (done, an error, Ctrl-C): stop every worker of this
            # call, so outstanding minibatches stop and the CPUs are free again.
            for worker in [*workers, *starting.values()]:
                ray.kill(worker, no_restart=True)
        output = {
            probe: np.concatenate([r[i] for r in results])
            for i, probe in enumerate(probes)
            if i in results[0]
        }
        wall = time.perf_counter() - started
        # Timings of this call, summed over workers where it says so (bench/cluster.py)
        self.stats = {
            "wall_s": wall,
            "minibatches": n_batches,
            "workers": n_workers,
            "simulator_s": sim_time,  # running minibatches, summed over workers
            "build_s": build_time,  # building simulators, summed over workers
            "first_result_s": first_result,  # from the call to the first minibatch
            "model_build_s": build_s,  # nengo's builder, here, once
            "setup_s": loop_start - started,  # the build, shipping the job, workers
            "driver_s": driver_time,  # the caller's work per minibatch (not waiting)
            "lost": sum(lost),
        }
        return output

    # -- map ------------------------------------------------------------------------

    def map(self, fn: Callable, items: Iterable, *, max_retries: int = 3) -> list:
        """``[fn(item) for item in items]``, each call a Ray task on the cluster.

        ``fn`` travels to the cluster once; each item with its task. A task whose
        worker or node dies is retried by Ray (up to ``max_retries`` times). An
        exception in ``fn`` is raised here as a `WorkError` naming the item (the
        other tasks run to their end and their results are dropped); Ctrl-C cancels
        the tasks that have not finished.
        """
        self._require()
        items = list(items)
        fn_ref = ray.put(fn)
        task = ray.remote(num_cpus=1, max_retries=max_retries)(_apply)
        refs = [task.remote(fn_ref, item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list = [None] * len(items)
        remaining = set(refs)
        progress = Progress("Mapping on the cluster", "Map", len(items))
        try:
            with ProgressTracker(self.progress_bar, progress) as tracker:
                while remaining:
                    ready, _ = ray.wait(list(remaining), num_returns=1, timeout=_POLL_S)
                    for ref in ready:
                        i = index[ref]
                        try:
                            results[i] = ray.get(ref)
                        except RayTaskError as error:
                            cause, text = _remote_cause(error)
                            raise WorkError(
                                f"fn raised {type(cause).__name__} for item {i} "
                                f"({_short(items[i])}):\n{text}",
                                [i],
                                items[i],
                            ) from cause
                        remaining.discard(ref)
                        tracker.total_progress.step()
        except KeyboardInterrupt:
            # Cancel what has not finished. Only on Ctrl-C: Ray can crash the caller
            # when a cancel races with a task finishing (ray-project/ray#54846,
            # fixed by #54798), so after an error in fn the other tasks are left
            # to finish (their results are dropped) rather than cancelled.
            if remaining:
                _, running = ray.wait(
                    list(remaining), num_returns=len(remaining), timeout=0
                )
                for ref in running:
                    try:
                        ray.cancel(ref, force=True)
                    except Exception:  # noqa: BLE001 - finished or gone meanwhile
                        pass
            raise
        return results


def _short(item: Any, limit: int = 200) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def demo(argv: list[str] | None = None) -> None:
    """``python -m nengo_native.distributed``: a batch of noisy trials on a local Ray,
    checked against the same batch in-process."""
    import argparse

    import nengo

    from .simulator import Simulator

    parser = argparse.ArgumentParser(description=demo.__doc__.splitlines()[0])
    parser.add_argument("--address", default=None, help="join this Ray cluster")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args(argv)

    with nengo.Network(seed=0) as net:
        stim = nengo.Node(np.zeros(8))
        ens = nengo.networks.EnsembleArray(50, n_ensembles=8)
        for e in ens.ensembles:  # unseeded: each gets its seed from the simulator's
            e.noise = nengo.processes.WhiteNoise(nengo.dists.Gaussian(0, 0.1))
        nengo.Connection(stim, ens.input, synapse=None)
        nengo.Connection(ens.output, ens.input, synapse=0.1)
        probe = nengo.Probe(ens.output, synapse=0.01)
    steps = 500
    t = 0.001 * np.arange(1, steps + 1)
    x = (
        np.sin(2 * np.pi * t)[None, :, None]
        * np.linspace(0, 1, args.batch)[:, None, None]
    )
    x = np.repeat(x, 8, axis=2)

    start = time.perf_counter()
    with Cluster(args.address, args.workers) as cluster:
        print(
            f"Ray: {cluster.num_workers} workers ({time.perf_counter() - start:.1f} s)"
        )
        start = time.perf_counter()
        # optimize=False: nengo's optimizer may merge operators in another order in
        # another build, and the unseeded noise would then draw other seeds than in
        # the in-process run below
        out = cluster.predict(net, {stim: x}, minibatch_size=32, seed=1, optimize=False)
        wall = time.perf_counter() - start
    print(f"cluster.predict: {args.batch} trials x {steps} steps in {wall:.2f} s")
    with Simulator(
        net, minibatch_size=16, seed=1, optimize=False, progress_bar=False
    ) as sim:
        local = sim.predict({stim: x})
    same = np.array_equal(out[probe], local[probe])
    print(
        f"output {out[probe].shape}; equal to in-process predict, minibatch 16: {same}"
    )


if __name__ == "__main__":
    # run through the importable module, so the workers find its classes
    from nengo_native import distributed

    distributed.demo()
