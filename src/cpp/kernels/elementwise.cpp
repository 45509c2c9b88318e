#include "elementwise.h"

#include <stdexcept>

#include "../core/parallel.h"

namespace nengo_native {

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
    for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b) {
      const T* pa = ctx.data + a.off + b * a.bstride;
      const T* px = ctx.data + x.off + b * x.bstride;
      T* py = ctx.data + y.off + b * y.bstride;
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
