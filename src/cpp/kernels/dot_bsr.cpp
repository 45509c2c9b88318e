// Block-sparse DotInc: Y += A @ X with A in BSR (CSR as 1 x 1 blocks), forward and
// backward.
#include "dot.h"

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/parallel.h"
#include "../core/simd.h"
#include "dot_fast.h"

namespace nengo_native {
namespace {

// Rows of one-row blocks computed side by side (see row_group).
constexpr int64_t kRowGroup = 4;

}  // namespace

template <typename T>
BsrDotIncKernel<T>::BsrDotIncKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("A_off").size();
  const auto& off = p.int_array("A_off", n);
  const auto& bstride = p.int_array("A_bstride", n);
  const auto& R = p.int_array("A_R", n);
  const auto& C = p.int_array("A_C", n);
  const auto& ks = p.int_array("A_kstride", n);
  const auto& rs = p.int_array("A_rstride", n);
  const auto& cs = p.int_array("A_cstride", n);
  const auto& nbrow = p.int_array("A_nbrow", n);
  const auto& indptr_start = p.int_array("indptr_start", n);
  const auto& indices_start = p.int_array("indices_start", n);
  indptr_ = p.int_array("indptr");
  indices_ = p.int_array("indices");
  x_ = read_vec_refs(p, "X", n, s.arena_size, s.minibatch_size);
  y_ = read_vec_refs(p, "Y", n, s.arena_size, s.minibatch_size);
  chain_ptr_ = read_chain_ptr(p, n);
  a_.resize(n);
  item_work_.resize(n);
  const auto fail = [](const std::string& why) {
    throw std::invalid_argument("bsr_dot_inc: " + why);
  };
  for (size_t i = 0; i < n; ++i) {
    BsrRef a{off[i], bstride[i], R[i], C[i], ks[i], rs[i], cs[i], nbrow[i], indptr_start[i],
             indices_start[i]};
    if (a.R < 1 || a.C < 1 || a.nbrow < 0) fail("bad block shape");
    if (a.indptr_start < 0 || a.indptr_start + a.nbrow + 1 > static_cast<int64_t>(indptr_.size()))
      fail("indptr out of range");
    const int64_t* ptr = indptr_.data() + a.indptr_start;
    if (ptr[0] != 0) fail("indptr must start at 0");
    for (int64_t r = 0; r < a.nbrow; ++r)
      if (ptr[r + 1] < ptr[r]) fail("indptr must not decrease");
    const int64_t nblocks = ptr[a.nbrow];
    if (a.indices_start < 0 || a.indices_start + nblocks > static_cast<int64_t>(indices_.size()))
      fail("indices out of range");
    if (y_[i].n != a.nbrow * a.R) fail("Y does not have the product's size");
    if (x_[i].n % a.C != 0) fail("X is not a whole number of blocks");
    for (int64_t k = 0; k < nblocks; ++k) {
      const int64_t j = indices_[a.indices_start + k];
      if (j < 0 || (j + 1) * a.C > x_[i].n) fail("block column outside X");
    }
    if (nblocks > 0) {  // the farthest elements any block can reach
      int64_t lo = 0, hi = 0;
      for (auto [count, stride] : {std::pair<int64_t, int64_t>{nblocks, a.kstride},
                                   {a.R, a.rstride},
                                   {a.C, a.cstride}}) {
        lo += std::min<int64_t>(0, (count - 1) * stride);
        hi += std::max<int64_t>(0, (count - 1) * stride);
      }
      check_offsets({a.off + lo, a.off + hi}, a.bstride, s.arena_size, s.minibatch_size, "bsr_dot_inc A");
    }
    a_[i] = a;
    // A minibatch sharing A runs with items in vector lanes, where blocks have rows
    // enough to pay for copying X: not for one-row blocks (decoders, CSR), and not
    // for one-column encoder blocks, whose per-item path is a contiguous vector update.
    const bool encoder = a.C == 1 && a.rstride == 1 && nblocks == a.nbrow;
    // nengo's blocks are row-major; contiguous columns of several columns come from
    // the planner's column-major layout.
    by_columns_.push_back(a.rstride == 1 && a.C > 1 && a.bstride == 0);
    events_.emplace_back();
    if (by_columns_.back()) events_.back().reserve(x_[i].n, s.minibatch_size);
    lanes_.push_back(s.minibatch_size >= 4 && a.bstride == 0 && a.R >= 4 && !encoder &&
                     !by_columns_.back());
    item_work_[i] = (nblocks * a.R * a.C + y_[i].n) * s.minibatch_size;
    work_ += item_work_[i];
    max_item_work_ = std::max(max_item_work_, item_work_[i]);
  }
}

namespace {

// Rows of one-row blocks (decoders, CSR) are dot products whose additions must stay in
// stored order, a chain of dependent adds. Rows [first, first + kRowGroup) with equal
// numbers of blocks run in lockstep so that their independent chains overlap in the
// CPU; each row's own order of additions is unchanged.
template <typename T>
void row_group(const BsrRef& a, const int64_t* ptr, const int64_t* idx, const T* pa,
               const VecRef& x, const T* px, const VecRef& y, T* py, int64_t first) {
  const int64_t last = std::min(first + kRowGroup, a.nbrow);
  const int64_t nb = ptr[first + 1] - ptr[first];
  bool lockstep = last - first == kRowGroup;
  for (int64_t row = first + 1; lockstep && row < last; ++row)
    lockstep = ptr[row + 1] - ptr[row] == nb;
  if (!lockstep) {
    for (int64_t row = first; row < last; ++row) {
      T sum = T(0);
      for (int64_t k = ptr[row]; k < ptr[row + 1]; ++k) {
        const T* pr = pa + k * a.kstride;
        const T* xs = px + idx[k] * a.C * x.stride;
        for (int64_t c = 0; c < a.C; ++c) {
          const T term = pr[c * a.cstride] * xs[c * x.stride];
          sum = sum + term;
        }
      }
      py[row * y.stride] += sum;
    }
    return;
  }
  T sum[kRowGroup] = {};
  for (int64_t kk = 0; kk < nb; ++kk) {
    const T* pr[kRowGroup];
    const T* xs[kRowGroup];
    for (int64_t g = 0; g < kRowGroup; ++g) {
      const int64_t k = ptr[first + g] + kk;
      pr[g] = pa + k * a.kstride;
      xs[g] = px + idx[k] * a.C * x.stride;
    }
    if (a.cstride == 1 && x.stride == 1) {
      for (int64_t c = 0; c < a.C; ++c)
        for (int64_t g = 0; g < kRowGroup; ++g) {
          const T term = pr[g][c] * xs[g][c];
          sum[g] = sum[g] + term;
        }
    } else {
      for (int64_t c = 0; c < a.C; ++c)
        for (int64_t g = 0; g < kRowGroup; ++g) {
          const T term = pr[g][c * a.cstride] * xs[g][c * x.stride];
          sum[g] = sum[g] + term;
        }
    }
  }
  for (int64_t g = 0; g < kRowGroup; ++g) py[(first + g) * y.stride] += sum[g];
}

// One block row of a shared A for a whole minibatch, items in vector lanes: each lane
// is one item's row sum in scipy's stored order (blocks, then columns), so the numbers
// are those of the item-by-item paths. The block row's X segments are first copied
// item-minor into `xt` (`lanes` items per column, padded with zeros), so that a column
// of 2W items is two vector loads.
constexpr int64_t kLaneVectors = 2;

// Rows [r0, r0 + kRows) of the block row for items [v0, v0 + 2W): sums[r][item - v0].
template <typename T, int kRows>
NENGO_NATIVE_INLINE void bsr_lane_rows(const BsrRef& a, const int64_t* ptr, const T* pa,
                                       const T* xt, int64_t lanes, int64_t block_row,
                                       int64_t r0, int64_t v0, T* sums) {
  using V = simd::V<T>;
  constexpr int64_t W = simd::kWidth<T>;
  V acc[kRows][kLaneVectors];
  for (int r = 0; r < kRows; ++r)
    for (int u = 0; u < kLaneVectors; ++u) acc[r][u] = simd::splat(T(0));
  const T* column = xt + v0;
  for (int64_t k = ptr[block_row]; k < ptr[block_row + 1]; ++k) {
    const T* block = pa + k * a.kstride + r0 * a.rstride;
    for (int64_t c = 0; c < a.C; ++c, column += lanes) {
      V xv[kLaneVectors];
      for (int u = 0; u < kLaneVectors; ++u) xv[u] = simd::load(column + u * W);
      for (int r = 0; r < kRows; ++r) {
        const V coef = simd::splat(block[r * a.rstride + c * a.cstride]);
        for (int u = 0; u < kLaneVectors; ++u) acc[r][u] = acc[r][u] + coef * xv[u];
      }
    }
  }
  for (int r = 0; r < kRows; ++r)
    for (int u = 0; u < kLaneVectors; ++u) simd::store(sums + (r * kLaneVectors + u) * W, acc[r][u]);
}

template <typename T>
NENGO_NATIVE_INLINE void bsr_block_row_lanes(const BsrRef& a, const int64_t* ptr,
                                             const int64_t* idx, const T* pa, const VecRef& x,
                                             const T* px, const VecRef& y, T* py, int64_t minibatch_size,
                                             int64_t lanes, int64_t block_row, T* xt) {
  constexpr int64_t W = simd::kWidth<T>, kSpan = kLaneVectors * W;
  // Item by item, so that each item's segment is read in order (items are far apart).
  const int64_t columns = (ptr[block_row + 1] - ptr[block_row]) * a.C;
  for (int64_t b = 0; b < lanes; ++b) {
    T* dst = xt + b;
    if (b >= minibatch_size) {
      for (int64_t q = 0; q < columns; ++q) dst[q * lanes] = T(0);
      continue;
    }
    for (int64_t k = ptr[block_row]; k < ptr[block_row + 1]; ++k, dst += a.C * lanes) {
      const T* seg = px + b * x.bstride + idx[k] * a.C * x.stride;
      for (int64_t c = 0; c < a.C; ++c) dst[c * lanes] = seg[c * x.stride];
    }
  }
  T sums[4 * kSpan];
  const auto finish = [&](int64_t r0, int rows, int64_t v0) {
    const int64_t items = std::min(kSpan, minibatch_size - v0);
    for (int r = 0; r < rows; ++r) {
      T* out = py + (block_row * a.R + r0 + r) * y.stride + v0 * y.bstride;
      for (int64_t b = 0; b < items; ++b) out[b * y.bstride] += sums[r * kSpan + b];
    }
  };
  for (int64_t v0 = 0; v0 < minibatch_size; v0 += kSpan) {
    int64_t r0 = 0;
    for (; r0 + 4 <= a.R; r0 += 4) {
      bsr_lane_rows<T, 4>(a, ptr, pa, xt, lanes, block_row, r0, v0, sums);
      finish(r0, 4, v0);
    }
    for (; r0 < a.R; ++r0) {
      bsr_lane_rows<T, 1>(a, ptr, pa, xt, lanes, block_row, r0, v0, sums);
      finish(r0, 1, v0);
    }
  }
}

NENGO_NATIVE_MULTIVERSION
void bsr_block_row_lanes_dispatch(const BsrRef& a, const int64_t* ptr, const int64_t* idx,
                                  const double* pa, const VecRef& x, const double* px,
                                  const VecRef& y, double* py, int64_t minibatch_size, int64_t lanes,
                                  int64_t block_row, double* xt) {
  bsr_block_row_lanes(a, ptr, idx, pa, x, px, y, py, minibatch_size, lanes, block_row, xt);
}

NENGO_NATIVE_MULTIVERSION
void bsr_block_row_lanes_dispatch(const BsrRef& a, const int64_t* ptr, const int64_t* idx,
                                  const float* pa, const VecRef& x, const float* px,
                                  const VecRef& y, float* py, int64_t minibatch_size, int64_t lanes,
                                  int64_t block_row, float* xt) {
  bsr_block_row_lanes(a, ptr, idx, pa, x, px, y, py, minibatch_size, lanes, block_row, xt);
}

}  // namespace

template <typename T>
void BsrDotIncKernel<T>::run_item_by_columns(const Context<T>& ctx, int64_t i,
                                             bool parallel_rows) {
  const BsrRef& a = a_[i];
  const VecRef &x = x_[i], &y = y_[i];
  const int64_t* ptr = indptr_.data() + a.indptr_start;
  const int64_t* idx = indices_.data() + a.indices_start;
  const int64_t minibatch_size = ctx.minibatch_size;
  InputEvents<T>& ev = events_[i];
  ev.gather(ctx.data + x.off, x.n, x.stride, x.bstride, minibatch_size);
  // The work is the events' share of the dense product's.
  const int64_t inputs = std::max<int64_t>(1, x.n * minibatch_size);
  const bool parallel = parallel_rows && item_work_[i] * ev.count >= kParallelThreshold * inputs;
  const int64_t tile = std::max<int64_t>(8, kColumnTileElements / minibatch_size / 8 * 8);
  const int64_t tiles = (a.R + tile - 1) / tile;
  parallel_for(a.nbrow * tiles, parallel, [&](int64_t task) {
    const int64_t block_row = task / tiles, r0 = (task % tiles) * tile;
    const int64_t rows = std::min(tile, a.R - r0);
    // scipy's order, as in run_item: each row from zero, blocks in stored order, then
    // columns; only nonzero inputs add anything.
    thread_local std::vector<T> sums;
    if (sums.size() < static_cast<size_t>(rows * minibatch_size)) sums.resize(rows * minibatch_size);
    std::fill_n(sums.begin(), rows * minibatch_size, T(0));
    for (int64_t k = ptr[block_row]; k < ptr[block_row + 1]; ++k) {
      const int64_t j0 = idx[k] * a.C;
      add_events_dispatch(ctx.data + a.off + k * a.kstride + r0, a.cstride, j0, ev.index.data(),
                          ev.item.data(), ev.value.data(), ev.ptr[j0], ev.ptr[j0 + a.C], rows,
                          sums.data(), rows);
    }
    T* py = ctx.data + y.off + (block_row * a.R + r0) * y.stride;
    for (int64_t b = 0; b < minibatch_size; ++b)
      for (int64_t r = 0; r < rows; ++r) py[r * y.stride + b * y.bstride] += sums[b * rows + r];
  });
}

template <typename T>
void BsrDotIncKernel<T>::run_item(const Context<T>& ctx, int64_t i, bool parallel_rows) {
  if (by_columns_[i]) return run_item_by_columns(ctx, i, parallel_rows);
  const BsrRef& a = a_[i];
  const VecRef &x = x_[i], &y = y_[i];
  const int64_t* ptr = indptr_.data() + a.indptr_start;
  const int64_t* idx = indices_.data() + a.indices_start;
  // One thread owns each block row and sums each output row in stored order, so the
  // split never changes the numbers.
  if (lanes_[i]) {
    constexpr int64_t kSpan = kLaneVectors * simd::kWidth<T>;
    const int64_t lanes = (ctx.minibatch_size + kSpan - 1) / kSpan * kSpan;
    parallel_for(a.nbrow, parallel_rows, [&](int64_t block_row) {
      // Per-thread scratch for X, grown once to the largest block row.
      thread_local std::vector<T> xt;
      const auto need = static_cast<size_t>((ptr[block_row + 1] - ptr[block_row]) * a.C * lanes);
      if (xt.size() < need) xt.resize(need);
      bsr_block_row_lanes_dispatch(a, ptr, idx, ctx.data + a.off, x, ctx.data + x.off, y,
                                   ctx.data + y.off, ctx.minibatch_size, lanes, block_row, xt.data());
    });
    return;
  }
  if (a.R == 1 && a.nbrow >= kRowGroup) {
    const int64_t groups = (a.nbrow + kRowGroup - 1) / kRowGroup;
    parallel_for(ctx.minibatch_size * groups, parallel_rows, [&](int64_t task) {
      const int64_t b = task / groups, first = (task % groups) * kRowGroup;
      row_group(a, ptr, idx, ctx.data + a.off + b * a.bstride, x,
                ctx.data + x.off + b * x.bstride, y, ctx.data + y.off + b * y.bstride, first);
    });
    return;
  }
  const auto block_row_task = [&](int64_t task) {
    const int64_t b = task / a.nbrow, block_row = task % a.nbrow;
    const T* pa = ctx.data + a.off + b * a.bstride;
    const T* px = ctx.data + x.off + b * x.bstride;
    T* py = ctx.data + y.off + b * y.bstride + block_row * a.R * y.stride;
    // scipy's csr_matvec/bsr_matvec start each row of a zeroed result at 0 and add
    // products in stored order (blocks, then columns); numpy then adds the finished
    // product to Y. Rows go in tiles with the row loop innermost, which vectorizes and
    // keeps each row's order of additions.
    if (a.R < 8) {  // short blocks: plain row dot products vectorize better
      for (int64_t r = 0; r < a.R; ++r) {
        T sum = T(0);
        for (int64_t k = ptr[block_row]; k < ptr[block_row + 1]; ++k) {
          const T* row = pa + k * a.kstride + r * a.rstride;
          const T* xs = px + idx[k] * a.C * x.stride;
          for (int64_t c = 0; c < a.C; ++c) {
            const T term = row[c * a.cstride] * xs[c * x.stride];
            sum = sum + term;
          }
        }
        py[r * y.stride] += sum;
      }
      return;
    }
    if (ptr[block_row + 1] - ptr[block_row] == 1 && a.C == 1) {
      // One term per row (an encoder column of a one-dimensional ensemble): the zeroed
      // row plus its term goes straight into Y, in one pass.
      const T* column = pa + ptr[block_row] * a.kstride;
      const T xc = px[idx[ptr[block_row]] * x.stride];
      if (a.rstride == 1 && y.stride == 1) {
        for (int64_t r = 0; r < a.R; ++r) py[r] += T(0) + column[r] * xc;
      } else {
        for (int64_t r = 0; r < a.R; ++r)
          py[r * y.stride] += T(0) + column[r * a.rstride] * xc;
      }
      return;
    }
    if (a.cstride == 1 && x.stride == 1 && a.rstride != 1) {
      // Row-major blocks (a dense transform nengo merged into a block diagonal): each
      // row's sum is a chain of dependent adds in stored order, so rows advance in
      // lockstep, reading as many contiguous rows, to overlap their chains.
      constexpr int64_t kRows = 8;
      for (int64_t r0 = 0; r0 < a.R; r0 += kRows) {
        const int64_t rows = std::min(kRows, a.R - r0);
        T sum[kRows] = {};
        // `count` is a compile-time constant for whole tiles, so their rows unroll.
        const auto accumulate = [&](const T* block, const T* xs, auto count) {
          for (int64_t c = 0; c < a.C; ++c)
            for (int64_t g = 0; g < count; ++g) {
              const T term = block[g * a.rstride + c] * xs[c];
              sum[g] = sum[g] + term;
            }
        };
        for (int64_t k = ptr[block_row]; k < ptr[block_row + 1]; ++k) {
          const T* block = pa + k * a.kstride + r0 * a.rstride;
          const T* xs = px + idx[k] * a.C;
          if (rows == kRows)
            accumulate(block, xs, std::integral_constant<int64_t, kRows>{});
          else
            accumulate(block, xs, rows);
        }
        for (int64_t g = 0; g < rows; ++g) py[(r0 + g) * y.stride] += sum[g];
      }
      return;
    }
    constexpr int64_t kTile = 64;
    T sum[kTile];
    for (int64_t r0 = 0; r0 < a.R; r0 += kTile) {
      const int64_t tile = std::min(kTile, a.R - r0);
      std::fill(sum, sum + tile, T(0));
      for (int64_t k = ptr[block_row]; k < ptr[block_row + 1]; ++k) {
        const T* block = pa + k * a.kstride + r0 * a.rstride;
        const T* xs = px + idx[k] * a.C * x.stride;
        for (int64_t c = 0; c < a.C; ++c) {
          const T xc = xs[c * x.stride];
          const T* column = block + c * a.cstride;
          if (a.rstride == 1) {  // contiguous columns (nengo's encoders): vectorizes
            for (int64_t r = 0; r < tile; ++r) {
              const T term = column[r] * xc;
              sum[r] = sum[r] + term;
            }
          } else {
            for (int64_t r = 0; r < tile; ++r) {
              const T term = column[r * a.rstride] * xc;
              sum[r] = sum[r] + term;
            }
          }
        }
      }
      if (y.stride == 1)
        for (int64_t r = 0; r < tile; ++r) py[r0 + r] += sum[r];
      else
        for (int64_t r = 0; r < tile; ++r) py[(r0 + r) * y.stride] += sum[r];
    }
  };
  parallel_for(ctx.minibatch_size * a.nbrow, parallel_rows, block_row_task);
}

template <typename T>
template <typename RunItem>
void BsrDotIncKernel<T>::for_items(RunItem&& run) {
  const int64_t n_chains = static_cast<int64_t>(chain_ptr_.size()) - 1;
  if (n_chains > 1 && 2 * max_item_work_ <= work_) {
    // Many comparable items: one thread per chain, rows serial within an item.
    for_each_chain(chain_ptr_, work_, [&](int64_t i) { run(i, false); });
  } else {
    // One dominant item (e.g. nengo's merged block-diagonal BsrDotInc): split its rows.
    const int64_t n = static_cast<int64_t>(a_.size());
    for (int64_t i = 0; i < n; ++i) run(i, item_work_[i] >= kParallelThreshold);
  }
}

template <typename T>
void BsrDotIncKernel<T>::forward(const Context<T>& ctx) {
  for_items([&](int64_t i, bool parallel_rows) { run_item(ctx, i, parallel_rows); });
}

template <typename T>
std::vector<VecRef> BsrDotIncKernel<T>::saved() const {
  // A's blocks as one span from its lowest to its highest element: saving more than A
  // is harmless (see Kernel::saved), and nengo's block strides are positive.
  std::vector<VecRef> refs = x_;
  for (const BsrRef& a : a_) {
    const int64_t nblocks = indptr_[a.indptr_start + a.nbrow];
    if (nblocks == 0) continue;
    int64_t lo = 0, hi = 0;
    for (auto [count, stride] : {std::pair<int64_t, int64_t>{nblocks, a.kstride},
                                 {a.R, a.rstride},
                                 {a.C, a.cstride}}) {
      lo += std::min<int64_t>(0, (count - 1) * stride);
      hi += std::max<int64_t>(0, (count - 1) * stride);
    }
    refs.push_back({a.off + lo, hi - lo + 1, 1, a.bstride});
  }
  return refs;
}

template <typename T>
void BsrDotIncKernel<T>::backward(const Context<T>& ctx, T* grad) {
  // Serial over items and batch: A is usually shared, and its gradient sums over both.
  for (int64_t i = static_cast<int64_t>(a_.size()) - 1; i >= 0; --i) {
    const BsrRef& a = a_[i];
    const VecRef &x = x_[i], &y = y_[i];
    const int64_t* ptr = indptr_.data() + a.indptr_start;
    const int64_t* idx = indices_.data() + a.indices_start;
    for (int64_t b = 0; b < ctx.minibatch_size; ++b) {
      const T* pa = ctx.data + a.off + b * a.bstride;
      const T* px = ctx.data + x.off + b * x.bstride;
      T* ga = grad + a.off + b * a.bstride;
      T* gx = grad + x.off + b * x.bstride;
      const T* gy = grad + y.off + b * y.bstride;
      for (int64_t br = 0; br < a.nbrow; ++br)
        for (int64_t k = ptr[br]; k < ptr[br + 1]; ++k) {
          const int64_t ka = k * a.kstride, kx = idx[k] * a.C * x.stride;
          for (int64_t r = 0; r < a.R; ++r) {
            const T g = gy[(br * a.R + r) * y.stride];
            if (g == T(0)) continue;
            for (int64_t c = 0; c < a.C; ++c) {
              const int64_t ea = ka + r * a.rstride + c * a.cstride, ex = kx + c * x.stride;
              gx[ex] += pa[ea] * g;
              ga[ea] += g * px[ex];
            }
          }
        }
    }
  }
}

namespace {

KernelSchema bsr_dot_inc_schema() {
  return KernelSchema()
      .ints({"A_off", "A_bstride", "A_R", "A_C", "A_kstride", "A_rstride", "A_cstride",
             "A_nbrow", "indptr_start", "indices_start", "indptr", "indices"})
      .vecs({"X", "Y"})
      .chains();
}

}  // namespace

REGISTER_KERNEL("bsr_dot_inc", BsrDotIncKernel, bsr_dot_inc_schema());

namespace {

// Block rows per call of the fast paths (and per task when rows run in parallel).
constexpr int64_t kRowsPerChunk = 64;

// Unit-inner-stride operands of the fast paths' GEMMs.
using OS = Eigen::OuterStride<>;
template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

// One block row of unit-inner-stride blocks (by rows or by columns) for the whole
// minibatch: Y_rows (R x batch) += sum over blocks of A_k (R x C) X_k (C x batch), or
// with initial values (R, shared by the items) Y_rows = init + that sum.
template <typename T>
void bsr_block_row_gemm(const BsrRef& a, int64_t k0, int64_t nblocks, const int64_t* idx,
                        const T* pa, const T* px, int64_t x_bstride, int64_t batch, T* py,
                        int64_t y_bstride, const T* init) {
  Eigen::Map<ColMat<T>, 0, OS> y(py, a.R, batch, OS(y_bstride));
  if (init) y = Eigen::Map<const ColMat<T>>(init, a.R, 1).replicate(1, batch);
  for (int64_t k = 0; k < nblocks; ++k) {
    const T* block = pa + (k0 + k) * a.kstride;
    const Eigen::Map<const ColMat<T>, 0, OS> x(px + idx[k] * a.C, a.C, batch, OS(x_bstride));
    if (a.cstride == 1)
      y.noalias() += Eigen::Map<const RowMat<T>, 0, OS>(block, a.R, a.C, OS(a.rstride)) * x;
    else
      y.noalias() += Eigen::Map<const ColMat<T>, 0, OS>(block, a.R, a.C, OS(a.cstride)) * x;
  }
}

}  // namespace

template <typename T>
BsrDotIncFastKernel<T>::BsrDotIncFastKernel(const Params& p, const Shape& s)
    : BsrDotIncKernel<T>(p, s) {
  for (size_t i = 0; i < this->a_.size(); ++i) {
    const BsrRef& a = this->a_[i];
    const VecRef &x = this->x_[i], &y = this->y_[i];
    Path path = Path::kExact;
    if (a.bstride == 0 && !this->by_columns_[i]) {
      if (a.R == 1 && a.cstride == 1 && x.stride == 1) path = Path::kRows;
      else if (a.C == 1 && a.rstride == 1 && y.stride == 1) path = Path::kColumns;
      else if ((a.cstride == 1 || a.rstride == 1) && x.stride == 1 && y.stride == 1)
        path = Path::kGemm;
    }
    path_.push_back(path);
    no_exact_path_ = no_exact_path_ && path != Path::kExact;
  }
  init_.assign(this->a_.size(), nullptr);
  if (!p.has("Y_init")) return;
  init_offsets_ = p.int_array("Y_init");
  const auto& start = p.int_array("Y_init_start", this->a_.size());
  for (size_t i = 0; i < this->a_.size(); ++i) {
    const BsrRef& a = this->a_[i];
    if (start[i] < 0 || start[i] + a.nbrow > static_cast<int64_t>(init_offsets_.size()))
      throw std::invalid_argument("bsr_dot_inc_fast: Y_init_start out of range");
    bool any = false;
    for (int64_t r = 0; r < a.nbrow; ++r) {
      const int64_t off = init_offsets_[start[i] + r];
      if (off < -1 || off + a.R > s.arena_size)
        throw std::invalid_argument("bsr_dot_inc_fast: Y_init outside the arena");
      any = any || off >= 0;
    }
    if (!any) continue;
    // The exact loops, forward and backward, know nothing of initial values.
    if (!no_exact_path_ || this->y_[i].stride != 1)
      throw std::invalid_argument(
          "bsr_dot_inc_fast: initial values need fast paths only and a unit-stride Y");
    init_[i] = init_offsets_.data() + start[i];
  }
}

template <typename T>
void BsrDotIncFastKernel<T>::forward(const Context<T>& ctx) {
  this->for_items([&](int64_t i, bool parallel_rows) {
    if (path_[i] == Path::kExact) return this->run_item(ctx, i, parallel_rows);
    const BsrRef& a = this->a_[i];
    const VecRef &x = this->x_[i], &y = this->y_[i];
    const int64_t* ptr = this->indptr_.data() + a.indptr_start;
    const int64_t* idx = this->indices_.data() + a.indices_start;
    const T* pa = ctx.data + a.off;
    const T* px = ctx.data + x.off + ctx.item_begin * x.bstride;
    T* py = ctx.data + y.off + ctx.item_begin * y.bstride;
    const int64_t batch = ctx.items();
    const int64_t* init = init_[i];
    // A block row is one thread's: its outputs are its own. Rows go in chunks, so that
    // the small blocks of merged ensembles are not one call each.
    const int64_t chunks = (a.nbrow + kRowsPerChunk - 1) / kRowsPerChunk;
    parallel_for(chunks, parallel_rows, [&](int64_t chunk) {
      const int64_t begin = chunk * kRowsPerChunk;
      const int64_t end = std::min(a.nbrow, begin + kRowsPerChunk);
      if (path_[i] == Path::kGemm) {
        for (int64_t row = begin; row < end; ++row)
          bsr_block_row_gemm(a, ptr[row], ptr[row + 1] - ptr[row], idx + ptr[row], pa, px,
                             x.bstride, batch, py + row * a.R, y.bstride,
                             init && init[row] >= 0 ? ctx.data + init[row] : nullptr);
      } else if (path_[i] == Path::kRows) {
        row_dots_fast(pa, a.kstride, ptr, idx, begin, end, a.C, px, x.bstride, batch, py, y.stride,
                      y.bstride, ctx.data, init);
      } else {
        column_axpys_fast(pa, a.kstride, ptr, idx, begin, end, a.R, px, x.stride, x.bstride, batch,
                          py, y.bstride, ctx.data, init);
      }
    });
  });
}

template <typename T>
void BsrDotIncFastKernel<T>::backward(const Context<T>& ctx, T* grad) {
  // Every fast path has unit inner strides where they matter, so each block's adjoints
  // are two GEMMs over the minibatch: dX_k += A_k^T dY and dA_k += dY X_k^T.
  if (!no_exact_path_) return BsrDotIncKernel<T>::backward(ctx, grad);
  const int64_t batch = ctx.minibatch_size;
  for (int64_t i = static_cast<int64_t>(this->a_.size()) - 1; i >= 0; --i) {
    const BsrRef& a = this->a_[i];
    const VecRef &x = this->x_[i], &y = this->y_[i];
    const int64_t* ptr = this->indptr_.data() + a.indptr_start;
    const int64_t* idx = this->indices_.data() + a.indices_start;
    // One-row and one-column blocks: the single stride is unused.
    const bool by_rows = a.R == 1 || (a.C > 1 && a.cstride == 1);
    const int64_t outer = by_rows ? (a.R == 1 ? a.C : a.rstride) : (a.C == 1 ? a.R : a.cstride);
    for (int64_t br = 0; br < a.nbrow; ++br) {
      Eigen::Map<ColMat<T>, 0, OS> gy(grad + y.off + br * a.R * y.stride, a.R, batch,
                                      OS(y.bstride));
      for (int64_t k = ptr[br]; k < ptr[br + 1]; ++k) {
        const int64_t ka = a.off + k * a.kstride, kx = x.off + idx[k] * a.C * x.stride;
        const Eigen::Map<const ColMat<T>, 0, OS> xk(ctx.data + kx, a.C, batch, OS(x.bstride));
        Eigen::Map<ColMat<T>, 0, OS> gx(grad + kx, a.C, batch, OS(x.bstride));
        const auto adjoints = [&](auto matrix) {
          using Mat = decltype(matrix);
          gx.noalias() += Eigen::Map<const Mat, 0, OS>(ctx.data + ka, a.R, a.C, OS(outer))
                              .transpose() *
                          gy;
          Eigen::Map<Mat, 0, OS>(grad + ka, a.R, a.C, OS(outer)).noalias() += gy * xk.transpose();
        };
        if (by_rows)
          adjoints(RowMat<T>());
        else
          adjoints(ColMat<T>());
      }
      // Started from initial values: they get the rows' gradient, summed over the items
      // that share them, and the output's earlier value (overwritten) gets none.
      if (init_[i] && init_[i][br] >= 0) {
        Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(grad + init_[i][br], a.R) +=
            gy.rowwise().sum();
        gy.setZero();
      }
    }
  }
}

REGISTER_KERNEL("bsr_dot_inc_fast", BsrDotIncFastKernel,
                bsr_dot_inc_schema().optional_ints({"Y_init", "Y_init_start"}));

}  // namespace nengo_native
