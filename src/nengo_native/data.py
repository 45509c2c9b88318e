"""Probe data and built parameters, as nengo's ``sim.data`` presents them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from nengo.probe import Probe


class ProbeRecord:
    """Samples of one probe, kept as chunks and joined on access."""

    def __init__(self, has_minibatch_axis: bool):
        self.has_minibatch_axis = has_minibatch_axis
        self.chunks: list[np.ndarray] = []  # each (samples, minibatch_size, *shape)
        self._joined = None

    def append(self, chunk: np.ndarray) -> None:
        if len(chunk):
            self.chunks.append(chunk)
            self._joined = None

    def clear(self) -> None:
        self.chunks.clear()
        self._joined = None

    def array(self, sample_shape, dtype) -> np.ndarray:
        if self._joined is None:
            if self.chunks:
                data = np.concatenate(self.chunks, axis=0)
                # nengo's layout for one item, (minibatch, samples, ...) for a batch
                if self.has_minibatch_axis:
                    data = np.moveaxis(data, 1, 0)
                else:
                    data = data[:, 0]
            elif self.has_minibatch_axis:
                data = np.zeros((1, 0) + tuple(sample_shape), dtype=dtype)
            else:
                # nengo's record of a probe with no samples is an empty list, which
                # it gives as an array of shape (0,), whatever the probe's size
                data = np.zeros((0,), dtype=dtype)
            data = np.ascontiguousarray(data)
            data.setflags(write=False)
            self._joined = data
        return self._joined


class SimulationData(Mapping):
    """``sim.data``: probe arrays for probes, built parameters for everything else."""

    def __init__(self, params: dict, records: dict, probe_shapes: dict, dtype):
        self.raw = params
        # Set once training is possible: (obj, built) -> built with current values.
        self.live = None
        self._records = records
        self._shapes = probe_shapes
        self._dtype = dtype

    def __getitem__(self, key):
        if isinstance(key, Probe) and key in self._records:
            return self._records[key].array(self._shapes[key], self._dtype)
        try:
            built = self.raw[key]
        except KeyError:
            what = "probe" if isinstance(key, Probe) else "object"
            raise KeyError(
                f"{key!r}: no data; this {what} is not part of this simulator's model"
            ) from None
        return built if self.live is None else self.live(key, built)

    def __iter__(self):
        return iter(self.raw)

    def __len__(self):
        return len(self.raw)

    def __repr__(self):
        return f"SimulationData({list(self.raw)!r})"

    def reset(self):
        """Kept for nengo compatibility; data is joined lazily and never stale."""
