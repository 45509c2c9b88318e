// Dense DotInc: Y += A @ X with A a strided view, forward and backward.
#include "dot.h"

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/parallel.h"
#include "../core/simd.h"

namespace nengo_native {
namespace {

template <typename T>
using StridedMat = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
                              0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
// Column b of a batch matrix is item b's vector: rows step by the element stride,
// columns by the batch stride.
template <typename T>
using BatchMat = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0,
                            Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

template <typename T>
using MutStridedMat =
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
               Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

template <typename T>
using ConstBatchMat =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0,
               Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

}  // namespace

template <typename T>
DotIncKernel<T>::DotIncKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("Y_off").size();
  a_ = read_mat_refs(p, "A", n, s.arena_size, s.minibatch_size);
  x_ = read_vec_refs(p, "X", n, s.arena_size, s.minibatch_size);
  y_ = read_vec_refs(p, "Y", n, s.arena_size, s.minibatch_size);
  read_chain_ptr(p, n);  // validated for the Program's sake; Y is updated in item order
  int64_t scratch = 0;
  for (size_t i = 0; i < n; ++i) {
    const MatRef& a = a_[i];
    if (a.cols != x_[i].n || a.rows != y_[i].n)
      throw std::invalid_argument("dot_inc: shapes do not match (" + std::to_string(a.rows) +
                                  "x" + std::to_string(a.cols) + " @ " +
                                  std::to_string(x_[i].n) + " -> " + std::to_string(y_[i].n) + ")");
    product_off_.push_back(scratch);
    scratch += a.rows * s.minibatch_size;
    // Weights stored by columns and shared by the batch: tasks of rows over every
    // item, their accumulators sized to stay cached (see kColumnTileElements).
    by_columns_.push_back(a.rstride == 1 && a.cstride != 1 && a.bstride == 0 && a.rows > 1);
    events_.emplace_back();
    if (by_columns_.back()) {
      events_.back().reserve(x_[i].n, s.minibatch_size);
      const int64_t tile = std::max<int64_t>(8, kColumnTileElements / s.minibatch_size / 8 * 8);
      for (int64_t r = 0; r < a.rows; r += tile)
        tasks_.push_back({static_cast<int64_t>(i), r, std::min(a.rows, r + tile)});
      continue;
    }
    dense_work_ += a.rows * a.cols * s.minibatch_size;
    if (a.cstride != 1 || x_[i].stride != 1) continue;  // strided: Eigen, item by item
    // Row tiles of every item, small enough to spread one big matrix over threads.
    const int64_t row_work = std::max<int64_t>(1, a.cols * s.minibatch_size);
    const int64_t tile = std::max<int64_t>(1, kDenseTaskWork / row_work / kDenseRows) * kDenseRows;
    for (int64_t r = 0; r < a.rows; r += tile)
      tasks_.push_back({static_cast<int64_t>(i), r, std::min(a.rows, r + tile)});
  }
  product_.resize(static_cast<size_t>(scratch));
}

namespace {

// The dot product of n elements at unit stride, always summed the same way: W lanes
// accumulate every W-th product, the lanes are added in order, then the last n % W
// products one by one. Every output of the dense kernel is this function of its row
// and its item's vector alone, so a minibatch item gets the numbers it gets alone and
// tiling or threads never change them. R rows times B vectors per call share loads.
template <typename T, int R, int B>
NENGO_NATIVE_INLINE void dot_tile(const T* __restrict a, int64_t lda, const T* __restrict x,
                                  int64_t ldx, int64_t n, T* __restrict out, int64_t ldo) {
  using V = simd::V<T>;
  constexpr int64_t W = simd::kWidth<T>;
  V acc[R][B];
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < B; ++b) acc[r][b] = simd::splat(T(0));
  const int64_t full = n - n % W;
  for (int64_t k = 0; k < full; k += W) {
    V xv[B];
    for (int b = 0; b < B; ++b) xv[b] = simd::load(x + b * ldx + k);
    for (int r = 0; r < R; ++r) {
      const V av = simd::load(a + r * lda + k);
      for (int b = 0; b < B; ++b) acc[r][b] = acc[r][b] + av * xv[b];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int b = 0; b < B; ++b) {
      T sum = acc[r][b][0];
      for (int64_t l = 1; l < W; ++l) sum = sum + acc[r][b][l];
      for (int64_t k = full; k < n; ++k) sum = sum + a[r * lda + k] * x[b * ldx + k];
      out[r + b * ldo] = sum;
    }
}

// Rows [begin, end) of A times `batch` vectors at unit stride: out[r + b * ldo].
template <typename T>
NENGO_NATIVE_INLINE void dense_rows(const T* a, int64_t lda, const T* x, int64_t ldx,
                                    int64_t n, int64_t minibatch_size, int64_t begin, int64_t end,
                                    T* out, int64_t ldo) {
  int64_t r = begin;
  const auto rows = [&](auto tile_rows) {
    constexpr int kR = decltype(tile_rows)::value;
    int64_t b = 0;
    for (; b + 2 <= minibatch_size; b += 2)
      dot_tile<T, kR, 2>(a + r * lda, lda, x + b * ldx, ldx, n, out + r + b * ldo, ldo);
    if (b < minibatch_size) dot_tile<T, kR, 1>(a + r * lda, lda, x + b * ldx, ldx, n, out + r + b * ldo, ldo);
  };
  for (; r + 4 <= end; r += 4) rows(std::integral_constant<int, 4>{});
  for (; r < end; ++r) rows(std::integral_constant<int, 1>{});
}

NENGO_NATIVE_MULTIVERSION
void dense_rows_dispatch(const double* a, int64_t lda, const double* x, int64_t ldx, int64_t n,
                         int64_t minibatch_size, int64_t begin, int64_t end, double* out, int64_t ldo) {
  dense_rows(a, lda, x, ldx, n, minibatch_size, begin, end, out, ldo);
}

NENGO_NATIVE_MULTIVERSION
void dense_rows_dispatch(const float* a, int64_t lda, const float* x, int64_t ldx, int64_t n,
                         int64_t minibatch_size, int64_t begin, int64_t end, float* out, int64_t ldo) {
  dense_rows(a, lda, x, ldx, n, minibatch_size, begin, end, out, ldo);
}

}  // namespace

template <typename T>
void DotIncKernel<T>::forward(const Context<T>& ctx) {
  const int64_t minibatch_size = ctx.minibatch_size;
  // numpy adds the finished product to Y: products go to scratch first, then to Y item
  // by item in Program order (items writing one signal add in a fixed order). Items of
  // one step never read what another writes (the planner's levels).
  int64_t work = dense_work_;
  for (size_t i = 0; i < a_.size(); ++i) {
    if (!by_columns_[i]) continue;
    const VecRef& x = x_[i];
    events_[i].gather(ctx.data + x.off, x.n, x.stride, x.bstride, minibatch_size);
    work += events_[i].count * a_[i].rows;
  }
  parallel_for(static_cast<int64_t>(tasks_.size()), work >= kParallelThreshold,
               [&](int64_t t) {
                 const DenseTask& task = tasks_[t];
                 const MatRef& a = a_[task.item];
                 const VecRef& x = x_[task.item];
                 T* out = product_.data() + product_off_[task.item];
                 if (by_columns_[task.item]) {
                   // Each output sums its nonzero inputs' terms in input order.
                   const InputEvents<T>& ev = events_[task.item];
                   const int64_t rows = task.end - task.begin;
                   for (int64_t b = 0; b < minibatch_size; ++b)
                     std::fill_n(out + b * a.rows + task.begin, rows, T(0));
                   add_events_dispatch(ctx.data + a.off + task.begin, a.cstride, 0,
                                       ev.index.data(), ev.item.data(), ev.value.data(), 0,
                                       ev.count, rows, out + task.begin, a.rows);
                 } else if (a.bstride == 0) {
                   dense_rows_dispatch(ctx.data + a.off, a.rstride, ctx.data + x.off, x.bstride,
                                       a.cols, minibatch_size, task.begin, task.end, out, a.rows);
                 } else {
                   for (int64_t b = 0; b < minibatch_size; ++b)
                     dense_rows_dispatch(ctx.data + a.off + b * a.bstride, a.rstride,
                                         ctx.data + x.off + b * x.bstride, x.bstride, a.cols, 1,
                                         task.begin, task.end, out + b * a.rows, a.rows);
                 }
               });
  const auto stride = [](int64_t outer, int64_t inner) {
    return Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(outer, inner);
  };
  for (size_t i = 0; i < a_.size(); ++i) {
    const MatRef& a = a_[i];
    const VecRef& x = x_[i];
    if (a.rows == 0) continue;
    if (!by_columns_[i] && (a.cstride != 1 || x.stride != 1)) {
      Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> product(
          product_.data() + product_off_[i], a.rows, minibatch_size);
      // Strided operands (rare): Eigen evaluates one dot product per output element, in
      // order, whatever the batch.
      for (int64_t b = 0; b < minibatch_size; ++b) {
        const int64_t ob = a.bstride == 0 ? 0 : b;
        StridedMat<T> A(ctx.data + a.off + ob * a.bstride, a.rows, a.cols,
                        stride(a.rstride, a.cstride));
        ConstBatchMat<T> X(ctx.data + x.off + b * x.bstride, x.n, 1, stride(x.bstride, x.stride));
        product.col(b).noalias() = A * X;
      }
    }
    add_product(ctx, i);
  }
}

template <typename T>
void DotIncKernel<T>::add_product(const Context<T>& ctx, size_t i) {
  const VecRef& y = y_[i];
  const Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> product(
      product_.data() + product_off_[i] + ctx.item_begin * a_[i].rows, a_[i].rows, ctx.items());
  BatchMat<T>(ctx.data + y.off + ctx.item_begin * y.bstride, y.n, ctx.items(),
              Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(y.bstride, y.stride)) += product;
}

namespace {

// Y += A X gives dX += A^T dY and dA += dY X^T.
template <typename MA, typename MGA, typename MX, typename MGX, typename MGY>
void dense_backward(const MA& A, MGA gA, const MX& X, MGX gX, const MGY& gY) {
  gX.noalias() += A.transpose() * gY;
  gA.noalias() += gY * X.transpose();
}

}  // namespace

template <typename T>
std::vector<VecRef> DotIncKernel<T>::saved() const {
  std::vector<VecRef> refs = row_refs(a_);
  refs.insert(refs.end(), x_.begin(), x_.end());
  return refs;
}

template <typename T>
void DotIncKernel<T>::backward(const Context<T>& ctx, T* grad) {
  // Y += A X gives dX += A^T dY and dA += dY X^T (summed over items when A is shared).
  // Items run serially: shared operands collect sums in a fixed order.
  const int64_t minibatch_size = ctx.minibatch_size;
  const auto stride = [](int64_t outer, int64_t inner) {
    return Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(outer, inner);
  };
  for (int64_t i = static_cast<int64_t>(a_.size()) - 1; i >= 0; --i) {
    const MatRef& a = a_[i];
    const VecRef &x = x_[i], &y = y_[i];
    if (a.rows == 0 || a.cols == 0) continue;
    // Operands shared by the batch (bstride 0) are handled one item at a time, so their
    // sums never alias across columns.
    const bool whole_batch = a.bstride == 0 && x.bstride != 0;
    const int64_t cols = whole_batch ? minibatch_size : 1;
    for (int64_t b = 0; b < (whole_batch ? 1 : minibatch_size); ++b) {
      const int64_t ob = whole_batch ? 0 : b;
      T* const pa = ctx.data + a.off + ob * a.bstride;
      T* const px = ctx.data + x.off + ob * x.bstride;
      const bool row_major = a.cstride == 1;
      const bool column_major = a.rstride == 1 && a.cstride >= a.rows;
      if ((row_major || column_major) && x.stride == 1 && y.stride == 1) {
        // Unit inner strides: Eigen's fast GEMM, with A by rows (nengo's layout) or by
        // columns (the planner's layout for spiking inputs).
        using OS = Eigen::OuterStride<>;
        using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
        const auto gemm = [&](const auto& A, auto gA) {
          dense_backward(A, gA, Eigen::Map<const ColMat, 0, OS>(px, x.n, cols, OS(x.bstride)),
                         Eigen::Map<ColMat, 0, OS>(grad + (px - ctx.data), x.n, cols,
                                                   OS(x.bstride)),
                         Eigen::Map<const ColMat, 0, OS>(grad + y.off + ob * y.bstride, y.n,
                                                         cols, OS(y.bstride)));
        };
        T* const ga = grad + (pa - ctx.data);
        if (row_major)
          gemm(Eigen::Map<const RowMat, 0, OS>(pa, a.rows, a.cols, OS(a.rstride)),
               Eigen::Map<RowMat, 0, OS>(ga, a.rows, a.cols, OS(a.rstride)));
        else
          gemm(Eigen::Map<const ColMat, 0, OS>(pa, a.rows, a.cols, OS(a.cstride)),
               Eigen::Map<ColMat, 0, OS>(ga, a.rows, a.cols, OS(a.cstride)));
      } else {
        dense_backward(
            StridedMat<T>(pa, a.rows, a.cols, stride(a.rstride, a.cstride)),
            MutStridedMat<T>(grad + (pa - ctx.data), a.rows, a.cols,
                             stride(a.rstride, a.cstride)),
            ConstBatchMat<T>(px, x.n, cols, stride(x.bstride, x.stride)),
            BatchMat<T>(grad + (px - ctx.data), x.n, cols, stride(x.bstride, x.stride)),
            ConstBatchMat<T>(grad + y.off + ob * y.bstride, y.n, cols,
                             stride(y.bstride, y.stride)));
      }
    }
  }
}

REGISTER_KERNEL("dot_inc", DotIncKernel, KernelSchema().mats({"A"}).vecs({"X", "Y"}).chains());

template <typename T>
DotIncFastKernel<T>::DotIncFastKernel(const Params& p, const Shape& s) : DotIncKernel<T>(p, s) {
  for (size_t i = 0; i < this->a_.size(); ++i) {
    const MatRef& a = this->a_[i];
    gemm_ = gemm_ && !this->by_columns_[i] && a.bstride == 0 && a.cstride == 1 &&
            this->x_[i].stride == 1;
    for (int64_t r = 0; r < a.rows; r += kGemmRows)
      gemm_tasks_.push_back({static_cast<int64_t>(i), r, std::min(a.rows, r + kGemmRows)});
  }
}

template <typename T>
void DotIncFastKernel<T>::forward(const Context<T>& ctx) {
  if (!gemm_) return DotIncKernel<T>::forward(ctx);
  using OS = Eigen::OuterStride<>;
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ColMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  const int64_t b0 = ctx.item_begin, batch = ctx.items();
  // Products to scratch (item b's in column b), then to Y in Program order, as the exact
  // kernel does.
  parallel_for(static_cast<int64_t>(gemm_tasks_.size()), this->dense_work_ >= kParallelThreshold,
               [&](int64_t t) {
                 const auto& task = gemm_tasks_[t];
                 const MatRef& a = this->a_[task.item];
                 const VecRef& x = this->x_[task.item];
                 const int64_t rows = task.end - task.begin;
                 Eigen::Map<ColMat, 0, OS> out(this->product_.data() +
                                                   this->product_off_[task.item] + b0 * a.rows +
                                                   task.begin,
                                               rows, batch, OS(a.rows));
                 out.noalias() =
                     Eigen::Map<const RowMat, 0, OS>(ctx.data + a.off + task.begin * a.rstride,
                                                     rows, a.cols, OS(a.rstride)) *
                     Eigen::Map<const ColMat, 0, OS>(ctx.data + x.off + b0 * x.bstride, a.cols,
                                                     batch, OS(x.bstride));
               });
  for (size_t i = 0; i < this->a_.size(); ++i)
    if (this->a_[i].rows != 0) this->add_product(ctx, i);
}

REGISTER_KERNEL("dot_inc_fast", DotIncFastKernel,
                KernelSchema().mats({"A"}).vecs({"X", "Y"}).chains());

}  // namespace nengo_native
