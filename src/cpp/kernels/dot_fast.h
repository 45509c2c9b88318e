// Products of the throughput mode (exact=False): sums in SIMD lanes, in any order, with
// FMA (this family's source is compiled with contraction on). Each routine runs compiled
// for the best instruction set of the CPU (vmath::on_best_isa), so results are the same
// run to run on one machine, not across machines.
#pragma once

#include <cstdint>

namespace nengo_native {

// One output row for every minibatch item: y[b * y_bstride] += sum over blocks k of
// dot(a + k * kstride, x + b * x_bstride + idx[k] * n), each block n elements at unit
// stride.
template <typename T>
void row_dots_fast(const T* a, int64_t kstride, const int64_t* idx, int64_t nblocks, int64_t n,
                   const T* x, int64_t x_bstride, int64_t batch, T* y, int64_t y_bstride);

// One block row of one-column blocks for every minibatch item: y_b[r] += sum over blocks k
// of column_k[r] * x_b[idx[k] * x_stride] for r < rows, with column_k = a + k * kstride at
// unit stride and y_b = y + b * y_bstride at unit stride.
template <typename T>
void column_axpys_fast(const T* a, int64_t kstride, const int64_t* idx, int64_t nblocks,
                       int64_t rows, const T* x, int64_t x_stride, int64_t x_bstride,
                       int64_t batch, T* y, int64_t y_bstride);

}  // namespace nengo_native
