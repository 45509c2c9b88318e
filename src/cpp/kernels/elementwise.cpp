#include "elementwise.h"

#include <stdexcept>

#include "../core/parallel.h"
#include "../core/simd.h"

namespace nengo_native {
namespace {

// y[k] += a[k * a_step] * x[k] for k < n (a_step 0: one A for all, as a scalar
// transform gives), the product then the sum as numpy forms them.
template <typename T>
inline void scaled_add(T* y, const T* a, int64_t a_step, const T* x, int64_t n) {
  if (a_step == 0) {
    const T av = *a;
    for (int64_t k = 0; k < n; ++k) y[k] += av * x[k];
  } else {
    for (int64_t k = 0; k < n; ++k) y[k] += a[k] * x[k];
  }
}

// Clones for each instruction set (the loops vectorize; exact either way: no contraction).
NENGO_NATIVE_MULTIVERSION
void scaled_add_dispatch(double* y, const double* a, int64_t a_step, const double* x,
                         int64_t n) {
  scaled_add(y, a, a_step, x, n);
}

NENGO_NATIVE_MULTIVERSION
void scaled_add_dispatch(float* y, const float* a, int64_t a_step, const float* x, int64_t n) {
  scaled_add(y, a, a_step, x, n);
}

}  // namespace

template <typename T>
ElementwiseIncKernel<T>::ElementwiseIncKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("Y_off").size();
  y_ = read_mat_refs(p, "Y", n, s.arena_size, s.minibatch_size);
  a_ = read_mat_refs(p, "A", n, s.arena_size, s.minibatch_size);
  x_ = read_mat_refs(p, "X", n, s.arena_size, s.minibatch_size);
  chain_ptr_ = read_chain_ptr(p, n);
  for (size_t i = 0; i < n; ++i) {
    // A and X are already broadcast to Y's shape (zero strides on broadcast axes).
    if (a_[i].rows != y_[i].rows || a_[i].cols != y_[i].cols || x_[i].rows != y_[i].rows ||
        x_[i].cols != y_[i].cols)
      throw std::invalid_argument("elementwise_inc: A and X must be broadcast to Y's shape");
    work_ += y_[i].rows * y_[i].cols * s.minibatch_size;
  }
}

template <typename T>
void ElementwiseIncKernel<T>::forward(const Context<T>& ctx) {
  for_each_chain(chain_ptr_, work_, [&](int64_t i) {
    const MatRef &a = a_[i], &x = x_[i], &y = y_[i];
    // Unit-stride rows (a vector is one row, or one column of rows of one element),
    // with A the same shape or one value: a loop the compiler vectorizes.
    const bool by_rows = y.rows == 1 || y.cols > 1;
    const int64_t n = by_rows ? y.cols : y.rows, lines = by_rows ? y.rows : 1;
    const int64_t y_step = by_rows ? y.cstride : y.rstride;
    const int64_t x_step = by_rows ? x.cstride : x.rstride;
    const int64_t a_step = by_rows ? a.cstride : a.rstride;
    const bool unit = y_step == 1 && x_step == 1 && (a_step == 0 || a_step == 1);
    for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b) {
      const T* pa = ctx.data + a.off + b * a.bstride;
      const T* px = ctx.data + x.off + b * x.bstride;
      T* py = ctx.data + y.off + b * y.bstride;
      if (unit) {
        for (int64_t r = 0; r < lines; ++r)
          scaled_add_dispatch(py + r * y.rstride, pa + r * a.rstride, a_step,
                              px + r * x.rstride, n);
        continue;
      }
      for (int64_t r = 0; r < y.rows; ++r)
        for (int64_t c = 0; c < y.cols; ++c)
          py[r * y.rstride + c * y.cstride] +=
              pa[r * a.rstride + c * a.cstride] * px[r * x.rstride + c * x.cstride];
    }
  });
}

template <typename T>
std::vector<VecRef> ElementwiseIncKernel<T>::saved() const {
  std::vector<VecRef> refs = row_refs(a_);
  const std::vector<VecRef> xs = row_refs(x_);
  refs.insert(refs.end(), xs.begin(), xs.end());
  return refs;
}

template <typename T>
void ElementwiseIncKernel<T>::backward(const Context<T>& ctx, T* grad) {
  // Serial: broadcast operands (zero strides) and parameters shared by the batch collect
  // sums, in a fixed order.
  for (int64_t i = static_cast<int64_t>(y_.size()) - 1; i >= 0; --i) {
    const MatRef &a = a_[i], &x = x_[i], &y = y_[i];
    for (int64_t b = 0; b < ctx.minibatch_size; ++b) {
      const int64_t oa = a.off + b * a.bstride, ox = x.off + b * x.bstride,
                    oy = y.off + b * y.bstride;
      for (int64_t r = 0; r < y.rows; ++r)
        for (int64_t c = 0; c < y.cols; ++c) {
          const T gy = grad[oy + r * y.rstride + c * y.cstride];
          const int64_t ea = oa + r * a.rstride + c * a.cstride;
          const int64_t ex = ox + r * x.rstride + c * x.cstride;
          const T av = ctx.data[ea], xv = ctx.data[ex];
          grad[ea] += gy * xv;
          grad[ex] += gy * av;
        }
    }
  }
}

REGISTER_KERNEL("elementwise_inc", ElementwiseIncKernel,
                KernelSchema().mats({"Y", "A", "X"}).chains());

}  // namespace nengo_native
