#include "parallel.h"

#include <stdexcept>

namespace nengo_native {

std::vector<int64_t> read_chain_ptr(const Params& p, size_t n_items) {
  return p.offsets("chain_ptr", static_cast<int64_t>(n_items));
}

}  // namespace nengo_native
