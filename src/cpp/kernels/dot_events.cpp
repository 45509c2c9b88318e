#include "dot_events.h"

#include <limits>
#include <stdexcept>

#include "../core/simd.h"

namespace nengo_native {

template <typename T>
void InputEvents<T>::reserve(int64_t n, int64_t minibatch_size) {
  if (n * minibatch_size > std::numeric_limits<int32_t>::max())
    throw std::length_error("dot: more than 2^31 inputs over the minibatch");
  ptr.assign(static_cast<size_t>(n + 1), 0);
  index.resize(static_cast<size_t>(n * minibatch_size));
  item.resize(static_cast<size_t>(n * minibatch_size));
  value.resize(static_cast<size_t>(n * minibatch_size));
}

template <typename T>
void InputEvents<T>::gather(const T* x, int64_t n, int64_t stride, int64_t bstride,
                            int64_t minibatch_size) {
  int64_t e = 0;
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t b = 0; b < minibatch_size; ++b) {
      const T v = x[b * bstride + j * stride];
      if (v != T(0)) {  // NaN and infinities are events: they must reach the sums
        index[e] = static_cast<int32_t>(j);
        item[e] = static_cast<int32_t>(b);
        value[e] = v;
        ++e;
      }
    }
    ptr[j + 1] = e;
  }
  count = e;
}

template struct InputEvents<float>;
template struct InputEvents<double>;

namespace {

// out[r] += column_m[r] * value_m for m = 0..M-1 in turn, for r in [0, n): one pass
// over the outputs for M input events, each output adding them in order.
template <typename T, int M>
NENGO_NATIVE_INLINE void add_columns(const T* const* columns, const T* values, int64_t n,
                                     T* __restrict out) {
  using V = simd::V<T>;
  constexpr int64_t W = simd::kWidth<T>;
  V v[M];
  for (int m = 0; m < M; ++m) v[m] = simd::splat(values[m]);
  int64_t r = 0;
  for (; r + W <= n; r += W) {
    V sum = simd::load(out + r);
    for (int m = 0; m < M; ++m) sum = sum + simd::load(columns[m] + r) * v[m];
    simd::store(out + r, sum);
  }
  for (; r < n; ++r) {
    T sum = out[r];
    for (int m = 0; m < M; ++m) sum = sum + columns[m][r] * values[m];
    out[r] = sum;
  }
}

// Adds events [e0, e1) (see InputEvents) into out (n rows per item, items `ldo` apart):
// event e adds input index[e]'s column, which starts at a + (index[e] - j0) * lda. Runs
// of up to four events of one item (every run at minibatch 1) share a pass.
template <typename T>
NENGO_NATIVE_INLINE void add_events(const T* a, int64_t lda, int64_t j0, const int32_t* index,
                                    const int32_t* item, const T* value, int64_t e0,
                                    int64_t e1, int64_t n, T* out, int64_t ldo) {
  constexpr int kRun = 4;
  const T* columns[kRun];
  for (int64_t e = e0; e < e1;) {
    int m = 0;
    while (m < kRun && e + m < e1 && item[e + m] == item[e]) {
      columns[m] = a + (index[e + m] - j0) * lda;
      ++m;
    }
    T* o = out + item[e] * ldo;
    switch (m) {
      case 4: add_columns<T, 4>(columns, value + e, n, o); break;
      case 3: add_columns<T, 3>(columns, value + e, n, o); break;
      case 2: add_columns<T, 2>(columns, value + e, n, o); break;
      default: add_columns<T, 1>(columns, value + e, n, o); break;
    }
    e += m;
  }
}

}  // namespace

NENGO_NATIVE_MULTIVERSION
void add_events_dispatch(const double* a, int64_t lda, int64_t j0, const int32_t* index,
                         const int32_t* item, const double* value, int64_t e0, int64_t e1,
                         int64_t n, double* out, int64_t ldo) {
  add_events(a, lda, j0, index, item, value, e0, e1, n, out, ldo);
}

NENGO_NATIVE_MULTIVERSION
void add_events_dispatch(const float* a, int64_t lda, int64_t j0, const int32_t* index,
                         const int32_t* item, const float* value, int64_t e0, int64_t e1,
                         int64_t n, float* out, int64_t ldo) {
  add_events(a, lda, j0, index, item, value, e0, e1, n, out, ldo);
}

}  // namespace nengo_native
