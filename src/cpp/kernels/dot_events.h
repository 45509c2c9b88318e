// What the dense and block-sparse products share: the nonzero inputs of a spiking
// population (InputEvents) and the column pass that adds them.
#pragma once

#include <cstdint>
#include <vector>

namespace nengo_native {

// The nonzero elements of a product's input over a minibatch, by input index: index j's
// are events [ptr[j], ptr[j + 1]), each an item and its value, items ascending. A
// spiking population's output is mostly zeros, and a zero input adds nothing to a sum
// (its weights are finite: the planner checks), so products over weights stored by
// columns (the planner's column-major layout) read only the columns of these events.
template <typename T>
struct InputEvents {
  std::vector<int64_t> ptr;
  std::vector<int32_t> index, item;
  std::vector<T> value;
  int64_t count = 0;

  void reserve(int64_t n, int64_t minibatch_size);
  // Collect the events of x (n elements at `stride`, items `bstride` apart).
  void gather(const T* x, int64_t n, int64_t stride, int64_t bstride, int64_t minibatch_size);
};

// Adds events [e0, e1) (see InputEvents) into out (n rows per item, items `ldo` apart):
// event e adds input index[e]'s column, which starts at a + (index[e] - j0) * lda.
// Compiled once per instruction set (see simd.h), chosen at run time.
void add_events_dispatch(const double* a, int64_t lda, int64_t j0, const int32_t* index,
                         const int32_t* item, const double* value, int64_t e0, int64_t e1,
                         int64_t n, double* out, int64_t ldo);
void add_events_dispatch(const float* a, int64_t lda, int64_t j0, const int32_t* index,
                         const int32_t* item, const float* value, int64_t e0, int64_t e1,
                         int64_t n, float* out, int64_t ldo);

}  // namespace nengo_native
