// Strided references into the arena. Every signal a kernel touches is one of these;
// `bstride` is the distance between minibatch items (0 for parameters shared by the batch).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "params.h"

namespace nengo_native {

struct VecRef {
  int64_t off, n, stride, bstride;
};

struct MatRef {
  int64_t off, rows, cols, rstride, cstride, bstride;
};

// The parameter fields of a ref named `<prefix>`: `<prefix>_off`, `<prefix>_n`, ...
constexpr std::array<const char*, 4> kVecFields{{"off", "n", "stride", "bstride"}};
constexpr std::array<const char*, 6> kMatFields{
    {"off", "rows", "cols", "rstride", "cstride", "bstride"}};

inline bool empty(const VecRef& r) { return r.n == 0; }
inline bool empty(const MatRef& r) { return r.rows == 0 || r.cols == 0; }

// Whether every view has its own elements per minibatch item (none shared by the batch):
// what a kernel writes must be, to run item-parallel.
template <typename Ref>
bool per_item(const std::vector<Ref>& refs) {
  for (const Ref& r : refs)
    if (r.bstride == 0 && !empty(r)) return false;
  return true;
}
// The same for views given by their batch strides alone.
inline bool per_item(const std::vector<int64_t>& bstrides) {
  for (int64_t bstride : bstrides)
    if (bstride == 0) return false;
  return true;
}

// The rows of a matrix view as vector views (one row when rows are broadcast).
std::vector<VecRef> row_refs(const MatRef& m);
std::vector<VecRef> row_refs(const std::vector<MatRef>& ms);

// Read the ragged fields `<prefix>_off`, `<prefix>_n`, ... of `count` items and check every
// element each item can touch (over all `batch` items) lies inside an arena of `arena_size`.
std::vector<VecRef> read_vec_refs(const Params& p, const std::string& prefix, size_t count,
                                  int64_t arena_size, int64_t minibatch_size);
std::vector<MatRef> read_mat_refs(const Params& p, const std::string& prefix, size_t count,
                                  int64_t arena_size, int64_t minibatch_size);
// Check a list of element offsets (relative to `base`) stays inside the arena.
void check_offsets(const std::vector<int64_t>& offsets, int64_t bstride, int64_t arena_size,
                   int64_t minibatch_size, const std::string& what);

}  // namespace nengo_native
