"""Type stub of nengo_native's compiled core (``src/cpp/bindings``)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypedDict

import numpy as np
import numpy.typing as npt

openmp: bool

# Named codes the kernels share with the planner (see `kernel_schemas` for names).
FILTER_VARIANTS: dict[str, int]  # nengo's LinearFilter step classes -> `variant`
LOOKUP_MODES: dict[str, int]  # process_lookup's `mode`
NOISE_DISTS: dict[str, int]  # nengo.dists classes -> process_noise's `dist`

class ParamSpec(TypedDict):
    kind: Literal["int", "real"]
    required: bool
    scalar: bool  # exactly one element

class KernelSchema(TypedDict):
    params: dict[str, ParamSpec]
    state: list[str]  # what set_kernel_params accepts (seed-dependent parameters)
    backends: list[str]

def kernel_schemas() -> dict[str, KernelSchema]: ...
def kernel_kinds() -> list[str]: ...
def kernel_backends() -> list[str]: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...

_Params = Mapping[str, npt.ArrayLike]

class _Executor:
    def __init__(
        self,
        arena_size: int,
        int_arena_size: int,
        minibatch_size: int,
        dt: float,
        step_offset: int,
        backend: str = "cpu",
    ) -> None: ...
    @property
    def int_arena(self) -> npt.NDArray[np.int64]: ...
    @property
    def minibatch_size(self) -> int: ...
    @property
    def backend(self) -> str: ...
    @property
    def n_kernels(self) -> int: ...
    @property
    def samples_written(self) -> list[int]: ...
    @property
    def steps_completed(self) -> int: ...
    @property
    def item_threads(self) -> int: ...
    def add_kernel(
        self,
        kind: str,
        params: _Params,
        training_kind: str | None = None,
        training_params: _Params | None = None,
    ) -> None: ...
    def add_callback(
        self, fn: Callable[[], object], backward: Callable[[int], object] | None = None
    ) -> None: ...
    def add_probe(
        self,
        off: int,
        rows: int,
        cols: int,
        rstride: int,
        cstride: int,
        bstride: int,
        period: float,
    ) -> None: ...
    def samples_in(self, probe: int, n_steps: int) -> int: ...
    def add_feed(self, off: int, n: int, stride: int, bstride: int) -> int: ...
    def set_written(self, mask: npt.ArrayLike) -> None: ...
    def non_differentiable_steps(self) -> list[int]: ...
    def reset_kernels(self) -> None: ...
    def set_kernel_params(self, index: int, params: _Params) -> None: ...

class Executor64(_Executor):
    @property
    def arena(self) -> npt.NDArray[np.float64]: ...
    @property
    def grad(self) -> npt.NDArray[np.float64]: ...
    def run(
        self,
        n_steps: int,
        buffers: Sequence[npt.NDArray[np.float64]],
        feeds: Sequence[npt.NDArray[np.float64] | None],
        training: bool = False,
    ) -> None: ...
    def backward(
        self, probe_grads: Sequence[npt.NDArray[np.float64] | None]
    ) -> None: ...

class Executor32(_Executor):
    @property
    def arena(self) -> npt.NDArray[np.float32]: ...
    @property
    def grad(self) -> npt.NDArray[np.float32]: ...
    def run(
        self,
        n_steps: int,
        buffers: Sequence[npt.NDArray[np.float32]],
        feeds: Sequence[npt.NDArray[np.float32] | None],
        training: bool = False,
    ) -> None: ...
    def backward(
        self, probe_grads: Sequence[npt.NDArray[np.float32] | None]
    ) -> None: ...
