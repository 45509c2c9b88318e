#include "dot.h"

#include <Eigen/Core>
#include <stdexcept>

#include "../core/parallel.h"

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
using ConstBatchMat =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0,
               Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

}  // namespace

template <typename T>
DotIncKernel<T>::DotIncKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("Y_off").size();
  a_ = read_mat_refs(p, "A", n, s.arena_size, s.batch);
  x_ = read_vec_refs(p, "X", n, s.arena_size, s.batch);
  y_ = read_vec_refs(p, "Y", n, s.arena_size, s.batch);
  chain_ptr_ = read_chain_ptr(p, n);
  for (size_t i = 0; i < n; ++i) {
    if (a_[i].cols != x_[i].n || a_[i].rows != y_[i].n)
      throw std::invalid_argument("dot_inc: shapes do not match (" + std::to_string(a_[i].rows) +
                                  "x" + std::to_string(a_[i].cols) + " @ " +
                                  std::to_string(x_[i].n) + " -> " + std::to_string(y_[i].n) + ")");
    work_ += a_[i].rows * a_[i].cols * s.batch;
  }
}

template <typename T>
void DotIncKernel<T>::forward(const Context<T>& ctx) {
  const int64_t batch = ctx.batch;
  for_each_chain(chain_ptr_, work_, [&](int64_t i) {
    const MatRef& a = a_[i];
    const VecRef &x = x_[i], &y = y_[i];
    if (a.rows == 0) return;
    // numpy adds the finished product to Y; computing into a temporary first keeps the
    // rounding the same.
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> product(a.rows, a.bstride == 0 ? batch : 1);
    const auto stride = [](int64_t outer, int64_t inner) {
      return Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(outer, inner);
    };
    if (a.bstride == 0) {
      StridedMat<T> A(ctx.data + a.off, a.rows, a.cols, stride(a.rstride, a.cstride));
      ConstBatchMat<T> X(ctx.data + x.off, x.n, batch, stride(x.bstride, x.stride));
      BatchMat<T> Y(ctx.data + y.off, y.n, batch, stride(y.bstride, y.stride));
      product.noalias() = A * X;
      Y += product;
    } else {
      for (int64_t b = 0; b < batch; ++b) {
        StridedMat<T> A(ctx.data + a.off + b * a.bstride, a.rows, a.cols,
                        stride(a.rstride, a.cstride));
        ConstBatchMat<T> X(ctx.data + x.off + b * x.bstride, x.n, 1, stride(x.bstride, x.stride));
        BatchMat<T> Y(ctx.data + y.off + b * y.bstride, y.n, 1, stride(y.bstride, y.stride));
        product.noalias() = A * X;
        Y += product;
      }
    }
  });
}

REGISTER_KERNEL("dot_inc", DotIncKernel);

}  // namespace nengo_native
