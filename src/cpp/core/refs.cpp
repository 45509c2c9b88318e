#include "refs.h"

#include <algorithm>
#include <stdexcept>

namespace nengo_native {
namespace {

// Smallest and largest element reachable from `off` with the given extents and strides.
void check_span(int64_t off, int64_t lo_extra, int64_t hi_extra, int64_t bstride, int64_t minibatch_size,
                int64_t arena_size, const std::string& what) {
  int64_t lo = off + lo_extra + std::min<int64_t>(0, bstride * (minibatch_size - 1));
  int64_t hi = off + hi_extra + std::max<int64_t>(0, bstride * (minibatch_size - 1));
  if (lo < 0 || hi >= arena_size)
    throw std::out_of_range(what + " reaches elements [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "] outside the arena of " +
                            std::to_string(arena_size));
}

void extent(int64_t n, int64_t stride, int64_t& lo, int64_t& hi) {
  if (n <= 0) return;
  int64_t last = (n - 1) * stride;
  lo += std::min<int64_t>(0, last);
  hi += std::max<int64_t>(0, last);
}

}  // namespace

std::vector<VecRef> read_vec_refs(const Params& p, const std::string& prefix, size_t count,
                                  int64_t arena_size, int64_t minibatch_size) {
  const auto field = [&](int k) -> const std::vector<int64_t>& {
    return p.int_array(prefix + "_" + kVecFields[k], count);
  };
  const auto &off = field(0), &n = field(1), &stride = field(2), &bstride = field(3);
  std::vector<VecRef> refs(count);
  for (size_t i = 0; i < count; ++i) {
    if (n[i] < 0) throw std::invalid_argument(prefix + ": negative size");
    refs[i] = {off[i], n[i], stride[i], bstride[i]};
    if (n[i] == 0) continue;
    int64_t lo = 0, hi = 0;
    extent(n[i], stride[i], lo, hi);
    check_span(off[i], lo, hi, bstride[i], minibatch_size, arena_size, prefix);
  }
  return refs;
}

std::vector<MatRef> read_mat_refs(const Params& p, const std::string& prefix, size_t count,
                                  int64_t arena_size, int64_t minibatch_size) {
  const auto field = [&](int k) -> const std::vector<int64_t>& {
    return p.int_array(prefix + "_" + kMatFields[k], count);
  };
  const auto &off = field(0), &rows = field(1), &cols = field(2), &rstride = field(3),
             &cstride = field(4), &bstride = field(5);
  std::vector<MatRef> refs(count);
  for (size_t i = 0; i < count; ++i) {
    if (rows[i] < 0 || cols[i] < 0) throw std::invalid_argument(prefix + ": negative size");
    refs[i] = {off[i], rows[i], cols[i], rstride[i], cstride[i], bstride[i]};
    if (rows[i] == 0 || cols[i] == 0) continue;
    int64_t lo = 0, hi = 0;
    extent(rows[i], rstride[i], lo, hi);
    extent(cols[i], cstride[i], lo, hi);
    check_span(off[i], lo, hi, bstride[i], minibatch_size, arena_size, prefix);
  }
  return refs;
}

void check_offsets(const std::vector<int64_t>& offsets, int64_t bstride, int64_t arena_size,
                   int64_t minibatch_size, const std::string& what) {
  if (offsets.empty()) return;
  auto [lo, hi] = std::minmax_element(offsets.begin(), offsets.end());
  check_span(0, *lo, *hi, bstride, minibatch_size, arena_size, what);
}

std::vector<VecRef> row_refs(const MatRef& m) {
  std::vector<VecRef> rows;
  const int64_t n_rows = m.rstride == 0 ? std::min<int64_t>(m.rows, 1) : m.rows;
  for (int64_t r = 0; r < n_rows; ++r)
    rows.push_back({m.off + r * m.rstride, m.cstride == 0 ? std::min<int64_t>(m.cols, 1) : m.cols,
                    m.cstride, m.bstride});
  return rows;
}

std::vector<VecRef> row_refs(const std::vector<MatRef>& ms) {
  std::vector<VecRef> rows;
  for (const MatRef& m : ms) {
    auto r = row_refs(m);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  return rows;
}

}  // namespace nengo_native
