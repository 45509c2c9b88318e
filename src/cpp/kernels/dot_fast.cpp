#include "dot_fast.h"

#include <algorithm>
#include <cstring>

#include "../core/vmath.h"

namespace nengo_native {
namespace {

using vmath::load;
using vmath::splat;
using vmath::store;

// Pairwise: lane by lane would be a chain of dependent additions as long as the vector.
template <typename T>
NENGO_NATIVE_INLINE T lane_sum(vmath::V<T> v) {
  constexpr int64_t W = vmath::kWidth<T>;
  T lanes[W];
  std::memcpy(lanes, &v, sizeof v);
  for (int64_t half = W / 2; half >= 1; half /= 2)
    for (int64_t i = 0; i < half; ++i) lanes[i] += lanes[i + half];
  return lanes[0];
}

// Items [b, b + G) of row_dots_fast: each block of A is loaded once for G items.
template <int G, typename T>
NENGO_NATIVE_INLINE void row_dots_group(const T* a, int64_t kstride, const int64_t* idx,
                                        int64_t nblocks, int64_t n, const T* x,
                                        int64_t x_bstride, int64_t b, T* y, int64_t y_bstride) {
  using V = vmath::V<T>;
  constexpr int64_t W = vmath::kWidth<T>;
  V acc[G];
  T tail[G];
  for (int g = 0; g < G; ++g) {
    acc[g] = splat(T(0));
    tail[g] = T(0);
  }
  for (int64_t k = 0; k < nblocks; ++k) {
    const T* ak = a + k * kstride;
    const T* xk = x + b * x_bstride + idx[k] * n;
    int64_t e = 0;
    for (; e + W <= n; e += W) {
      const V av = load(ak + e);
      for (int g = 0; g < G; ++g) acc[g] += av * load(xk + g * x_bstride + e);
    }
    for (; e < n; ++e)
      for (int g = 0; g < G; ++g) tail[g] += ak[e] * xk[g * x_bstride + e];
  }
  for (int g = 0; g < G; ++g) y[(b + g) * y_bstride] += lane_sum<T>(acc[g]) + tail[g];
}

}  // namespace

template <typename T>
void row_dots_fast(const T* a, int64_t kstride, const int64_t* ptr, const int64_t* idx,
                   int64_t row_begin, int64_t row_end, int64_t n, const T* x, int64_t x_bstride,
                   int64_t batch, T* y, int64_t y_row_step, int64_t y_bstride) {
  vmath::on_best_isa([&] {
    for (int64_t row = row_begin; row < row_end; ++row) {
      const int64_t k0 = ptr[row], nblocks = ptr[row + 1] - k0;
      const T* ak = a + k0 * kstride;
      T* yr = y + row * y_row_step;
      int64_t b = 0;
      for (; b + 4 <= batch; b += 4)
        row_dots_group<4>(ak, kstride, idx + k0, nblocks, n, x, x_bstride, b, yr, y_bstride);
      for (; b < batch; ++b)
        row_dots_group<1>(ak, kstride, idx + k0, nblocks, n, x, x_bstride, b, yr, y_bstride);
    }
  });
}

template <typename T>
void column_axpys_fast(const T* a, int64_t kstride, const int64_t* ptr, const int64_t* idx,
                       int64_t row_begin, int64_t row_end, int64_t rows, const T* x,
                       int64_t x_stride, int64_t x_bstride, int64_t batch, T* y,
                       int64_t y_bstride) {
  vmath::on_best_isa([&] {
    using V = vmath::V<T>;
    constexpr int64_t W = vmath::kWidth<T>;
    for (int64_t row = row_begin; row < row_end; ++row) {
      for (int64_t b = 0; b < batch; ++b) {
        T* yb = y + row * rows + b * y_bstride;
        const T* xb = x + b * x_bstride;
        for (int64_t k = ptr[row]; k < ptr[row + 1]; ++k) {
          const T c = xb[idx[k] * x_stride];
          if (c == T(0)) continue;  // a silent input (most spikes) adds nothing
          const T* column = a + k * kstride;
          const V cv = splat(c);
          int64_t r = 0;
          for (; r + W <= rows; r += W) store(yb + r, load(yb + r) + load(column + r) * cv);
          for (; r < rows; ++r) yb[r] += column[r] * c;
        }
      }
    }
  });
}

#define NENGO_NATIVE_DOT_FAST(T)                                                          \
  template void row_dots_fast<T>(const T*, int64_t, const int64_t*, const int64_t*, int64_t,  \
                                 int64_t, int64_t, const T*, int64_t, int64_t, T*, int64_t,  \
                                 int64_t);                                                    \
  template void column_axpys_fast<T>(const T*, int64_t, const int64_t*, const int64_t*,       \
                                     int64_t, int64_t, int64_t, const T*, int64_t, int64_t,   \
                                     int64_t, T*, int64_t);
NENGO_NATIVE_DOT_FAST(float)
NENGO_NATIVE_DOT_FAST(double)
#undef NENGO_NATIVE_DOT_FAST

}  // namespace nengo_native
