"""Checking what users pass in: the simulator's arguments, and run-time input data
(``data=``, ``x=``) against the model."""

from __future__ import annotations

import numbers
import os
import warnings

import numpy as np
from nengo.exceptions import ValidationError
from nengo.node import Node
from nengo.rc import rc
from nengo.utils.progress import ProgressBar

from .planner import CallbackStep


def check_dtype(dtype) -> np.dtype:
    """The simulator's float type: float32 or float64 (nengo's ``rc`` default)."""
    if dtype is None:
        dtype = rc.float_dtype
    try:
        dtype = np.dtype(dtype)
    except TypeError as e:
        raise ValidationError(f"'{dtype}' is not a dtype", attr="dtype") from e
    if dtype not in (np.float32, np.float64):
        raise ValidationError(f"must be float32 or float64 (got {dtype})", attr="dtype")
    return dtype


def check_dt(dt) -> float:
    """A time step: a positive finite number."""
    try:
        dt = float(dt)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"must be a number (got {dt!r})", attr="dt") from e
    if not (np.isfinite(dt) and dt > 0):
        raise ValidationError(f"must be a positive finite number (got {dt})", attr="dt")
    return dt


def check_seed(seed) -> int:
    """A seed numpy's generators accept: an integer in [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValidationError(
            f"must be an integer in [0, 2**32) (got {seed!r})", attr="seed"
        )
    if not 0 <= seed < 2**32:
        raise ValidationError(f"must be in [0, 2**32) (got {seed})", attr="seed")
    return int(seed)


def check_steps(steps, attr: str) -> int:
    """A number of steps: a non-negative integer."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValidationError(
            f"Must be a non-negative integer (got {steps!r})", attr=attr
        )
    return int(steps)


def check_optimize(optimize):
    """``optimize=``: True (the planner merges), False, or ``"nengo"``."""
    if optimize is True or optimize is False or optimize == "nengo":
        return optimize
    if isinstance(optimize, np.bool_):
        return bool(optimize)
    raise ValidationError(
        f'must be True, False or "nengo" (got {optimize!r})', attr="optimize"
    )


def check_progress_bar(progress_bar):
    """What nengo accepts as a progress bar."""
    if progress_bar is None or isinstance(progress_bar, (bool, ProgressBar)):
        return progress_bar
    raise ValidationError(
        "must be True, False, None or a nengo.utils.progress.ProgressBar "
        f"(got {progress_bar!r})",
        attr="progress_bar",
    )


def check_exact(exact) -> bool:
    """The contract a simulator keeps: exact (True) or throughput (False)."""
    if not isinstance(exact, (bool, np.bool_)):
        raise ValidationError(f"must be True or False (got {exact!r})", attr="exact")
    return bool(exact)


def check_run_time(time_in_seconds) -> float:
    """A length of time to run: a finite, non-negative number."""
    try:
        time_in_seconds = float(time_in_seconds)
    except (TypeError, ValueError) as e:
        raise ValidationError(
            f"Must be a number (got {time_in_seconds!r})", attr="time_in_seconds"
        ) from e
    if not np.isfinite(time_in_seconds):
        raise ValidationError(
            f"Must be finite (got {time_in_seconds})", attr="time_in_seconds"
        )
    if time_in_seconds < 0:
        raise ValidationError(
            f"Must be positive (got {time_in_seconds:g})", attr="time_in_seconds"
        )
    return time_in_seconds


def check_positive(value, attr: str) -> float:
    """A positive finite real number."""
    if not (isinstance(value, numbers.Real) and np.isfinite(value) and value > 0):
        raise ValidationError(
            f"must be a positive finite number (got {value!r})", attr=attr
        )
    return value


def check_minibatch_size(minibatch_size) -> int:
    """The batch size the core runs with (1 for ``None``)."""
    if minibatch_size is None:
        return 1
    if isinstance(minibatch_size, bool) or not isinstance(
        minibatch_size, (int, np.integer)
    ):
        raise ValidationError(
            f"must be a positive integer or None (got {minibatch_size!r})",
            attr="minibatch_size",
        )
    if minibatch_size < 1:
        raise ValidationError(
            f"must be at least 1 (got {minibatch_size})", attr="minibatch_size"
        )
    return int(minibatch_size)


# Python objects made per minibatch item besides its share of the arena, measured on
# CPython 3.11: each signal gets an array view and a dict entry in the item's signal
# dict; each operator run through Python gets a step function (and a generator).
_ITEM_BYTES_PER_SIGNAL = 200
_ITEM_BYTES_PER_CALLBACK = 1000


def state_bytes(program) -> int:
    """Estimated memory of a simulator for ``program``, minibatch included."""
    layout = program.layout
    # the arena and the initial copy kept for reset
    need = 2 * (layout.size * layout.dtype.itemsize + layout.int_size * 8)
    per_item = _ITEM_BYTES_PER_SIGNAL * (len(layout.offset) + len(layout.int_offset))
    for csr in layout.sparse.values():  # each item's CSR copies its indices
        per_item += csr.indices.nbytes + csr.indptr.nbytes
    for base in layout.int_offset:  # each item's integer signals are its own arrays
        per_item += base.size * base.dtype.itemsize
    n_callbacks = sum(1 for step in program.steps if isinstance(step, CallbackStep))
    per_item += _ITEM_BYTES_PER_CALLBACK * n_callbacks
    return need + layout.minibatch_size * per_item


def _meminfo_available() -> int | None:
    """Linux's MemAvailable: free memory plus what the kernel can reclaim (caches)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 or v1), if it has one."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            root, name = "/sys/fs/cgroup", "memory.max"
        elif "memory" in controllers.split(","):
            root, name = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
        else:
            continue
        for folder in (root + path, root):
            try:
                with open(os.path.join(folder, name)) as f:
                    value = f.read().strip()
            except OSError:
                continue
            if value.isdigit() and int(value) < 2**60:  # "max" or huge: no limit
                limits.append(int(value))
    return min(limits) if limits else None


def available_memory() -> int | None:
    """Bytes of memory a new allocation can have now (None where nothing says).

    Linux's MemAvailable (free memory and reclaimable caches), capped by the memory
    limit of the process's cgroup (a container); elsewhere the free or total
    physical memory that ``sysconf`` reports.
    """
    available = _meminfo_available()
    if available is None:
        for name in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
            try:
                available = os.sysconf(name) * os.sysconf("SC_PAGE_SIZE")
                break
            except (ValueError, OSError, AttributeError):
                pass
    limit = _cgroup_limit()
    if limit is not None:
        available = limit if available is None else min(available, limit)
    return available


def check_memory(
    need: int,
    minibatch_size: int,
    what: str = "the simulator's state",
    attr: str = "minibatch_size",
) -> None:
    """Refuse up front what would need more memory than the machine has free.

    Parameters
    ----------
    need : int
        Estimated bytes.
    minibatch_size : int
        Named in the message (the usual way to need less).
    what : str
        What needs the memory, for the message.
    attr : str
        The argument to blame.
    """
    available = available_memory()
    if available is not None and need > available:
        raise ValidationError(
            f"{what} would need about {need / 2**30:.1f} GiB with a minibatch of "
            f"{minibatch_size}, but only {available / 2**30:.1f} GiB is available; "
            "use a smaller minibatch_size or fewer steps",
            attr=attr,
        )


def node_label(node: Node) -> str:
    return str(node) if node.label is None else f"Node '{node.label}'"


def check_data(
    data,
    input_nodes,
    minibatch_size: int,
    n_steps: int | None,
    attr: str = "data",
    dtype=np.float64,
) -> tuple[dict, int]:
    """Validate input data; return it as float arrays and the number of steps.

    Parameters
    ----------
    data : dict or array or None
        ``{node: array (minibatch, n_steps, node.size_out)}``; a bare array is
        accepted when the model has exactly one input node.
    input_nodes : list of Node
        Nodes that may be fed (no input, some output).
    minibatch_size : int
        Required size of the first axis.
    n_steps : int or None
        Required number of steps; taken from the data when None.
    attr : str
        The argument's name, for messages.
    dtype : numpy.dtype
        Float type to return the arrays in (values must fit in it).
    """
    if data is None:
        return {}, n_steps
    if not isinstance(data, dict):
        if len(input_nodes) != 1:
            raise ValidationError(
                f"a bare array needs exactly one input node; the model has "
                f"{len(input_nodes)}: pass a dict {{node: array}}",
                attr=attr,
            )
        data = {input_nodes[0]: data}
    checked = {}
    for node, value in data.items():
        if not isinstance(node, Node):
            raise ValidationError(
                f"keys must be nengo Nodes (got {type(node).__name__} {node!r})",
                attr=attr,
            )
        if node not in input_nodes:
            why = (
                "it has an input (size_in > 0)"
                if node.size_in > 0
                else "it is not in this simulator's model, or nothing uses its output"
            )
            raise ValidationError(f"{node_label(node)} cannot be fed: {why}", attr=attr)
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise ValidationError(
                f"data for {node_label(node)} is not numeric: {e}", attr=attr
            ) from e
        if value.dtype.kind not in "biuf":
            raise ValidationError(
                f"data for {node_label(node)} is not numeric (dtype {value.dtype}); "
                "expected real numbers (float, int or bool)",
                attr=attr,
            )
        steps = value.shape[1] if value.ndim == 3 else None
        expected = (minibatch_size, n_steps or steps, node.size_out)
        if (
            value.ndim != 3
            or value.shape[0] != minibatch_size
            or (value.shape[2] != node.size_out)
        ):
            raise ValidationError(
                f"data for {node_label(node)} has shape {value.shape}; expected "
                f"{expected} (minibatch, n_steps, size_out)",
                attr=attr,
            )
        if n_steps is None:
            n_steps = steps
        elif steps != n_steps:
            raise ValidationError(
                f"data for {node_label(node)} has {steps} steps; expected {n_steps}",
                attr=attr,
            )
        finite = np.isfinite(value)
        if not np.all(finite):
            raise ValidationError(
                f"data for {node_label(node)} contains NaN or infinite values (first "
                f"at index {tuple(int(i) for i in np.argwhere(~finite)[0])})",
                attr=attr,
            )
        with np.errstate(over="ignore"):
            converted = value.astype(dtype, copy=False)
        if not np.all(np.isfinite(converted)):
            raise ValidationError(
                f"data for {node_label(node)} has values beyond the range of "
                f"{np.dtype(dtype).name} (largest magnitude "
                f"{np.finfo(dtype).max:.3g})",
                attr=attr,
            )
        checked[node] = converted
    return checked, n_steps


def split_batch(data: dict, minibatch_size: int, attr: str = "x") -> list[dict]:
    """Split ``{node: (batch, ...)}`` into minibatches of ``minibatch_size``."""
    sizes = {len(v) for v in data.values()}
    if len(sizes) > 1:
        raise ValidationError(
            f"all inputs must have the same batch size (got {sorted(sizes)})", attr=attr
        )
    (batch,) = sizes
    if batch == 0:
        raise ValidationError("the batch is empty (0 items)", attr=attr)
    if batch % minibatch_size:
        raise ValidationError(
            f"batch size {batch} is not a multiple of minibatch_size {minibatch_size}",
            attr=attr,
        )
    return [
        {node: v[i : i + minibatch_size] for node, v in data.items()}
        for i in range(0, batch, minibatch_size)
    ]


def check_batch_data(x, nodes: list, n_steps: int | None, dtype) -> tuple[dict, int]:
    """Checked data of any number of items (the batch size taken from ``x``) and
    the number of steps; ``x`` is a dict or, for a model with one input node, one
    array."""

    def items_in(value) -> int:
        try:
            return len(value)
        except TypeError:
            return 1  # not a sequence: check_data reports its shape

    if not isinstance(x, dict):
        x = check_data(x, nodes, items_in(x), n_steps, "x")[0]
    items = items_in(next(iter(x.values())))
    return check_data(x, nodes, items, n_steps, "x", dtype)


def truncate(data: dict, minibatch_size: int, attr: str = "x") -> dict:
    """Leave out the samples past the last whole minibatch, with NengoDL's warning.

    ``data`` maps nodes (or probes) to arrays whose first axis is the sample; all
    are cut to the same whole number of minibatches. Fewer samples than one
    minibatch is an error.
    """
    sizes = {len(v) for v in data.values()}
    if len(sizes) != 1:
        return data  # split_batch reports the mismatch
    (size,) = sizes
    if size % minibatch_size == 0:
        return data
    if size < minibatch_size:
        raise ValidationError(
            f"the data have {size} samples, fewer than one minibatch "
            f"(minibatch_size={minibatch_size})",
            attr=attr,
        )
    keep = size - size % minibatch_size
    warnings.warn(
        f"Number of elements in input data ({size}) is not evenly divisible by "
        f"Simulator.minibatch_size ({minibatch_size}); input data will be truncated "
        f"(to {keep} elements).",
        UserWarning,
        stacklevel=4,
    )
    return {k: v[:keep] for k, v in data.items()}
