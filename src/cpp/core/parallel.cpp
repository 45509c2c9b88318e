#include "parallel.h"

#include <stdexcept>

namespace nengo_native {

std::vector<int64_t> read_chain_ptr(const Params& p, size_t n_items) {
  const auto& ptr = p.int_array("chain_ptr");
  if (ptr.empty() || ptr.front() != 0 || ptr.back() != static_cast<int64_t>(n_items))
    throw std::invalid_argument("chain_ptr must run from 0 to the number of items");
  for (size_t c = 1; c < ptr.size(); ++c)
    if (ptr[c] < ptr[c - 1]) throw std::invalid_argument("chain_ptr must not decrease");
  return ptr;
}

}  // namespace nengo_native
