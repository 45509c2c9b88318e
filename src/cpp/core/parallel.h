// Deterministic parallelism over a group's chains: items that write the same base signal form
// one chain and run in Program order on one thread, so results never depend on thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "params.h"

namespace nengo_native {

// `chain_ptr` is CSR over the group's items: chain c holds items [chain_ptr[c], chain_ptr[c+1]).
std::vector<int64_t> read_chain_ptr(const Params& p, size_t n_items);

template <typename Fn>
void for_each_chain(const std::vector<int64_t>& chain_ptr, int64_t work, Fn&& run_item) {
  const int64_t n_chains = static_cast<int64_t>(chain_ptr.size()) - 1;
#pragma omp parallel for schedule(dynamic, 1) if (work >= (1 << 15) && n_chains > 1)
  for (int64_t c = 0; c < n_chains; ++c)
    for (int64_t i = chain_ptr[c]; i < chain_ptr[c + 1]; ++i) run_item(i);
}

}  // namespace nengo_native
