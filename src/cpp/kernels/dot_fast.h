// Products of the throughput mode (exact=False): sums in SIMD lanes, in any order, with
// FMA (this family's source is compiled with contraction on). Each routine runs compiled
// for the best instruction set of the CPU (vmath::on_best_isa), so results are the same
// run to run on one machine, not across machines.
#pragma once

#include <cstdint>

namespace nengo_native {

// Block rows [row_begin, row_end) of one-row blocks, for every minibatch item: block row r
// adds to y[r * y_row_step + b * y_bstride] the sum over its blocks k (ptr[r] <= k <
// ptr[r + 1]) of dot(a + k * kstride, x + b * x_bstride + idx[k] * n), each block n
// elements at unit stride. A range of rows per call, not one: the rows of a merged
// decoder are a few dozen elements each, and a call per row cost more than its sums.
// With `init` (per block row, an offset into `data` or -1), a row whose offset is set
// starts from data[init[r]] (shared by the items) instead of adding to y.
template <typename T>
void row_dots_fast(const T* a, int64_t kstride, const int64_t* ptr, const int64_t* idx,
                   int64_t row_begin, int64_t row_end, int64_t n, const T* x, int64_t x_bstride,
                   int64_t batch, T* y, int64_t y_row_step, int64_t y_bstride,
                   const T* data = nullptr, const int64_t* init = nullptr);

// Block rows [row_begin, row_end) of one-column blocks, for every minibatch item: block row
// r adds to y_b[r * rows + i], for i < rows, the sum over its blocks k of column_k[i] *
// x_b[idx[k] * x_stride], with column_k = a + k * kstride at unit stride, y_b = y + b *
// y_bstride at unit stride and x_b = x + b * x_bstride. `init` as for row_dots_fast, a
// row's `rows` initial values at unit stride.
template <typename T>
void column_axpys_fast(const T* a, int64_t kstride, const int64_t* ptr, const int64_t* idx,
                       int64_t row_begin, int64_t row_end, int64_t rows, const T* x,
                       int64_t x_stride, int64_t x_bstride, int64_t batch, T* y,
                       int64_t y_bstride, const T* data = nullptr,
                       const int64_t* init = nullptr);

}  // namespace nengo_native
