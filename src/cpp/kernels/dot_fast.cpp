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

// acc's lanes [0, m) += a[i] x[i], each one fused multiply-add, for the tail of a dot
// product after its whole vectors. Written out because the compiler contracted the same
// tail loop in some groupings of rows and items and not in others, and an item's sum
// then depended on its neighbours. (Without FMA instructions, a library call: slow, but
// for a few elements.)
NENGO_NATIVE_INLINE void fma_tail(vmath::V<float>& acc, const float* a, const float* x,
                                  int64_t m) {
  for (int64_t i = 0; i < m; ++i) acc[i] = __builtin_fmaf(a[i], x[i], acc[i]);
}

NENGO_NATIVE_INLINE void fma_tail(vmath::V<double>& acc, const double* a, const double* x,
                                  int64_t m) {
  for (int64_t i = 0; i < m; ++i) acc[i] = __builtin_fma(a[i], x[i], acc[i]);
}

// The lane sums of W = kWidth<T> vectors as one vector: lane i is the sum of v[i]'s lanes,
// added in lane_sum's order (upper half onto lower, then again), so that a sum is the
// same bits whether it was reduced alone or beside others. Pairs of vectors are reduced
// together, by halves: W - 1 additions in all where a sum per vector needs W - 1 each.
NENGO_NATIVE_INLINE vmath::V<float> lane_sums(const vmath::V<float>* v) {
  using V = vmath::V<float>;
  V t[4], u[2];
  for (int i = 0; i < 4; ++i)  // v[2i], v[2i+1]: lanes j + (j + 4), j < 4
    t[i] = __builtin_shufflevector(v[2 * i], v[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(v[2 * i], v[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15);
  for (int i = 0; i < 2; ++i)  // then j + (j + 2), j < 2, for four vectors
    u[i] = __builtin_shufflevector(t[2 * i], t[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13) +
           __builtin_shufflevector(t[2 * i], t[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15);
  return __builtin_shufflevector(u[0], u[1], 0, 2, 4, 6, 8, 10, 12, 14) +
         __builtin_shufflevector(u[0], u[1], 1, 3, 5, 7, 9, 11, 13, 15);
}

NENGO_NATIVE_INLINE vmath::V<double> lane_sums(const vmath::V<double>* v) {
  using V = vmath::V<double>;
  V t[2];
  for (int i = 0; i < 2; ++i)  // lanes j + (j + 2), j < 2
    t[i] = __builtin_shufflevector(v[2 * i], v[2 * i + 1], 0, 1, 4, 5) +
           __builtin_shufflevector(v[2 * i], v[2 * i + 1], 2, 3, 6, 7);
  return __builtin_shufflevector(t[0], t[1], 0, 2, 4, 6) +
         __builtin_shufflevector(t[0], t[1], 1, 3, 5, 7);
}

// W consecutive block rows of one block each, for one item (minibatch 1, or one item of a
// share): W dot products side by side, reduced together.
template <typename T>
NENGO_NATIVE_INLINE void row_dots_side_by_side(const T* a, int64_t kstride, const int64_t* ptr,
                                               const int64_t* idx, int64_t row, int64_t n,
                                               const T* x, T* y, int64_t y_row_step) {
  using V = vmath::V<T>;
  constexpr int64_t W = vmath::kWidth<T>;
  const T* ak[W];
  const T* xk[W];
  for (int64_t i = 0; i < W; ++i) {
    const int64_t k = ptr[row + i];
    ak[i] = a + k * kstride;
    xk[i] = x + idx[k] * n;
  }
  V acc[W];
  for (int64_t i = 0; i < W; ++i) acc[i] = splat(T(0));
  int64_t e = 0;
  for (; e + W <= n; e += W)
    for (int64_t i = 0; i < W; ++i) acc[i] += load(ak[i] + e) * load(xk[i] + e);
  if (e < n)
    for (int64_t i = 0; i < W; ++i) fma_tail(acc[i], ak[i] + e, xk[i] + e, n - e);
  const V sums = lane_sums(acc);
  if (y_row_step == 1) {
    store(y + row, load(y + row) + sums);
  } else {
    for (int64_t i = 0; i < W; ++i) y[(row + i) * y_row_step] += sums[i];
  }
}

// Items [b, b + G) of row_dots_fast: each block of A is loaded once for G items. G items
// as many as a vector's lanes are reduced together (lane_sums, the same bits as lane_sum),
// since one horizontal sum each cost more than the products over a small ensemble.
template <int G, typename T>
NENGO_NATIVE_INLINE void row_dots_group(const T* a, int64_t kstride, const int64_t* idx,
                                        int64_t nblocks, int64_t n, const T* x,
                                        int64_t x_bstride, int64_t b, T* y, int64_t y_bstride) {
  using V = vmath::V<T>;
  constexpr int64_t W = vmath::kWidth<T>;
  V acc[G];
  for (int g = 0; g < G; ++g) acc[g] = splat(T(0));
  for (int64_t k = 0; k < nblocks; ++k) {
    const T* ak = a + k * kstride;
    const T* xk = x + b * x_bstride + idx[k] * n;
    int64_t e = 0;
    for (; e + W <= n; e += W) {
      const V av = load(ak + e);
      for (int g = 0; g < G; ++g) acc[g] += av * load(xk + g * x_bstride + e);
    }
    if (e < n)
      for (int g = 0; g < G; ++g) fma_tail(acc[g], ak + e, xk + g * x_bstride + e, n - e);
  }
  if constexpr (G == W) {
    const V sums = lane_sums(acc);
    for (int g = 0; g < G; ++g) y[(b + g) * y_bstride] += sums[g];
  } else {
    for (int g = 0; g < G; ++g) y[(b + g) * y_bstride] += lane_sum<T>(acc[g]);
  }
}

}  // namespace

// row_dots_fast's loops, with every argument a value (see column_axpys_rows).
template <typename T>
NENGO_NATIVE_INLINE void row_dots_rows(const T* a, int64_t kstride, const int64_t* ptr,
                                       const int64_t* idx, int64_t row_begin, int64_t row_end,
                                       int64_t n, const T* x, int64_t x_bstride, int64_t batch,
                                       T* y, int64_t y_row_step, int64_t y_bstride,
                                       const T* data, const int64_t* init) {
  constexpr int64_t W = vmath::kWidth<T>;
  if (init)  // one value per row: set before the sums are added
    for (int64_t row = row_begin; row < row_end; ++row)
      if (init[row] >= 0)
        for (int64_t b = 0; b < batch; ++b) y[row * y_row_step + b * y_bstride] = data[init[row]];
  for (int64_t row = row_begin; row < row_end; ++row) {
    if (batch == 1 && row + W <= row_end) {
      bool single = true;  // W rows of one block each (a merged decoder's rows)
      for (int64_t i = 0; i < W; ++i) single = single && ptr[row + i + 1] - ptr[row + i] == 1;
      if (single) {
        row_dots_side_by_side(a, kstride, ptr, idx, row, n, x, y, y_row_step);
        row += W - 1;
        continue;
      }
    }
    const int64_t k0 = ptr[row], nblocks = ptr[row + 1] - k0;
    const T* ak = a + k0 * kstride;
    T* yr = y + row * y_row_step;
    int64_t b = 0;
    for (; b + W <= batch; b += W)
      row_dots_group<W>(ak, kstride, idx + k0, nblocks, n, x, x_bstride, b, yr, y_bstride);
    for (; b + 4 <= batch; b += 4)
      row_dots_group<4>(ak, kstride, idx + k0, nblocks, n, x, x_bstride, b, yr, y_bstride);
    for (; b < batch; ++b)
      row_dots_group<1>(ak, kstride, idx + k0, nblocks, n, x, x_bstride, b, yr, y_bstride);
  }
}

template <typename T>
void row_dots_fast(const T* a, int64_t kstride, const int64_t* ptr, const int64_t* idx,
                   int64_t row_begin, int64_t row_end, int64_t n, const T* x, int64_t x_bstride,
                   int64_t batch, T* y, int64_t y_row_step, int64_t y_bstride, const T* data,
                   const int64_t* init) {
  vmath::on_best_isa([&](auto) {
    row_dots_rows(a, kstride, ptr, idx, row_begin, row_end, n, x, x_bstride, batch, y,
                  y_row_step, y_bstride, data, init);
  });
}

// column_axpys_fast's arguments, handed to its loops by value: captured by reference in
// the dispatch lambda, they were reloaded from memory after each store.
template <typename T>
struct ColumnAxpys {
  const T* a;
  int64_t kstride;
  const int64_t *ptr, *idx;
  int64_t row_begin, row_end, rows;
  const T* x;
  int64_t x_stride, x_bstride, batch;
  T* y;
  int64_t y_bstride;
  const T* data;
  const int64_t* init;
};

// Whole vectors of a row column_axpys_held keeps in registers (a 64-neuron ensemble's in
// float).
constexpr int kHeldVectors = 8;

// column_axpys_rows for rows of nv <= NV whole vectors and a partial one: each item's
// row is summed in registers over the row's blocks, in the order the loop through memory
// adds them, and stored once.
template <int NV, typename T>
NENGO_NATIVE_INLINE void column_axpys_held(int nv, const ColumnAxpys<T> p) {
  if constexpr (NV > 0) {
    if (nv < NV) return column_axpys_held<NV - 1>(nv, p);
  }
  using V = vmath::V<T>;
  constexpr int64_t W = vmath::kWidth<T>;
  for (int64_t b = 0; b < p.batch; ++b) {
    const T* xb = p.x + b * p.x_bstride;
    for (int64_t row = p.row_begin; row < p.row_end; ++row) {
      T* yb = p.y + row * p.rows + b * p.y_bstride;
      const T* from = p.init && p.init[row] >= 0 ? p.data + p.init[row] : yb;
      V acc[NV > 0 ? NV : 1];
      for (int v = 0; v < NV; ++v) acc[v] = load(from + v * W);
      T tail[W];
      for (int64_t r = NV * W; r < p.rows; ++r) tail[r - NV * W] = from[r];
      for (int64_t k = p.ptr[row]; k < p.ptr[row + 1]; ++k) {
        const T c = xb[p.idx[k] * p.x_stride];
        if (c == T(0)) continue;  // a silent input (most spikes) adds nothing
        const T* column = p.a + k * p.kstride;
        const V cv = splat(c);
        for (int v = 0; v < NV; ++v) acc[v] += load(column + v * W) * cv;
        for (int64_t r = NV * W; r < p.rows; ++r) tail[r - NV * W] += column[r] * c;
      }
      for (int v = 0; v < NV; ++v) store(yb + v * W, acc[v]);
      for (int64_t r = NV * W; r < p.rows; ++r) yb[r] = tail[r - NV * W];
    }
  }
}

// column_axpys_fast's loops.
template <typename T>
NENGO_NATIVE_INLINE void column_axpys_rows(const ColumnAxpys<T> p) {
  using V = vmath::V<T>;
  constexpr int64_t W = vmath::kWidth<T>;
  // Item by item: in the throughput mode's item-major layout an item's rows lie together,
  // while one row's items are an item's whole footprint apart.
  if (p.rows < (kHeldVectors + 1) * W)
    return column_axpys_held<kHeldVectors>(static_cast<int>(p.rows / W), p);
  for (int64_t b = 0; b < p.batch; ++b) {
    const T* xb = p.x + b * p.x_bstride;
    for (int64_t row = p.row_begin; row < p.row_end; ++row) {
      T* yb = p.y + row * p.rows + b * p.y_bstride;
      if (p.init && p.init[row] >= 0) {  // set just before the row's sums, still in cache
        const T* from = p.data + p.init[row];
        int64_t r = 0;
        for (; r + W <= p.rows; r += W) store(yb + r, load(from + r));
        for (; r < p.rows; ++r) yb[r] = from[r];
      }
      for (int64_t k = p.ptr[row]; k < p.ptr[row + 1]; ++k) {
        const T c = xb[p.idx[k] * p.x_stride];
        if (c == T(0)) continue;  // a silent input (most spikes) adds nothing
        const T* column = p.a + k * p.kstride;
        const V cv = splat(c);
        int64_t r = 0;
        for (; r + W <= p.rows; r += W) store(yb + r, load(yb + r) + load(column + r) * cv);
        for (; r < p.rows; ++r) yb[r] += column[r] * c;
      }
    }
  }
}

template <typename T>
void column_axpys_fast(const T* a, int64_t kstride, const int64_t* ptr, const int64_t* idx,
                       int64_t row_begin, int64_t row_end, int64_t rows, const T* x,
                       int64_t x_stride, int64_t x_bstride, int64_t batch, T* y,
                       int64_t y_bstride, const T* data, const int64_t* init) {
  const ColumnAxpys<T> args{a,        kstride,   ptr,   idx, row_begin, row_end, rows, x,
                            x_stride, x_bstride, batch, y,   y_bstride, data,    init};
  vmath::on_best_isa([&](auto) { column_axpys_rows(args); });
}

#define NENGO_NATIVE_DOT_FAST(T)                                                          \
  template void row_dots_fast<T>(const T*, int64_t, const int64_t*, const int64_t*, int64_t,  \
                                 int64_t, int64_t, const T*, int64_t, int64_t, T*, int64_t,  \
                                 int64_t, const T*, const int64_t*);                          \
  template void column_axpys_fast<T>(const T*, int64_t, const int64_t*, const int64_t*,       \
                                     int64_t, int64_t, int64_t, const T*, int64_t, int64_t,   \
                                     int64_t, T*, int64_t, const T*, const int64_t*);
NENGO_NATIVE_DOT_FAST(float)
NENGO_NATIVE_DOT_FAST(double)
#undef NENGO_NATIVE_DOT_FAST

}  // namespace nengo_native
