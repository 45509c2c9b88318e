"""The throughput mode (``exact=False``): which kernels replace the exact ones.

Each fast kernel is a sibling of an exact kernel that takes the same parameters, so a
lowering writes its parameters once and the plan only swaps the kind. Kinds not listed
here run their exact kernel in both modes.

What the fast kernels change (see ``docs/performance.md``, "exact=False"):

- neurons: vector ``exp``/``expm1``/``log`` of a few ULP instead of numpy's libm
  calls, every neuron in SIMD lanes (``src/cpp/kernels/neurons_fast.cpp``);
- products over a shared matrix: decoder rows and encoder columns sum in SIMD lanes
  (``src/cpp/kernels/dot_fast.cpp``), dense matrices and larger blocks are GEMMs over
  the whole minibatch (Eigen); any order, with FMA.

The runtime also calls a node without input once per step for the whole minibatch
(``Runtime._item_functions``).
"""

from __future__ import annotations

# exact kind -> fast kind (same parameters).
FAST_KINDS: dict[str, str] = {
    "neurons_lif": "neurons_lif_fast",
    "neurons_adaptive_lif": "neurons_adaptive_lif_fast",
    "neurons_lif_rate": "neurons_lif_rate_fast",
    "neurons_lif_rate_smoothed": "neurons_lif_rate_smoothed_fast",
    "bsr_dot_inc": "bsr_dot_inc_fast",
    "dot_inc": "dot_inc_fast",
}


def kind_for_mode(kind: str, exact: bool) -> str:
    """The kernel that runs a step of ``kind``: itself, or when not exact its
    throughput sibling where it has one."""
    return kind if exact else FAST_KINDS.get(kind, kind)
