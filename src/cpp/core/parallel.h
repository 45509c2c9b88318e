// Deterministic parallelism over a group's chains: items that write the same base signal form
// one chain and run in Program order on one thread, so results never depend on thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernel.h"
#include "params.h"

namespace nengo_native {

// OpenMP's thread queries, and what they are in a build without OpenMP.
#ifdef _OPENMP
inline int max_threads() { return omp_get_max_threads(); }
inline int team_size() { return omp_get_num_threads(); }
inline int thread_index() { return omp_get_thread_num(); }
inline bool in_parallel_region() { return omp_in_parallel() != 0; }
#else
inline int max_threads() { return 1; }
inline int team_size() { return 1; }
inline int thread_index() { return 0; }
inline bool in_parallel_region() { return false; }
#endif

// `chain_ptr` is CSR over the group's items: chain c holds items [chain_ptr[c], chain_ptr[c+1]).
std::vector<int64_t> read_chain_ptr(const Params& p, size_t n_items);

// fn(i) for i in [0, n), split statically over threads when `parallel`. Each index runs
// whole on one thread, so a split never changes the numbers.
template <typename Fn>
void parallel_for(int64_t n, bool parallel, Fn&& fn) {
  // Inside the executor's item-parallel region every thread already has its own items.
  if (!parallel || n < 2 || in_parallel_region()) {
    // Even a disabled parallel region costs a runtime call; small work skips it.
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

template <typename Fn>
void for_each_chain(const std::vector<int64_t>& chain_ptr, int64_t work, Fn&& run_item) {
  const int64_t n_chains = static_cast<int64_t>(chain_ptr.size()) - 1;
  parallel_for(n_chains, work >= kParallelThreshold, [&](int64_t c) {
    for (int64_t i = chain_ptr[c]; i < chain_ptr[c + 1]; ++i) run_item(i);
  });
}

}  // namespace nengo_native
