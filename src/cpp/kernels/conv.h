// Convolution family: nengo's ConvInc (Y += conv(X, W)) and ConvTransposeInc (its
// transpose), 1-D and 2-D (1-D is 2-D with one row), with strides, "same"/"valid" padding,
// either channel order, and channel groups.
//
// Both kinds are one linear map between a "large" signal (the convolution's input, the
// transposed convolution's output) and a "small" one (the other side): small position o
// and large position h are linked through kernel tap d when o * stride + d - pad == h.
// Forward and backward are the same three loops with the roles swapped (see conv.cpp).
#pragma once

#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

// One operator's geometry, in arena elements. Spatial axes are (1, 2); 1-D has n1 == 1.
struct ConvItem {
  VecRef large, small;
  int64_t l1, l2, lc;  // large spatial size and channels
  int64_t s1, s2, sc;  // small spatial size and channels
  int64_t ls1, ls2, lsc, ss1, ss2, ssc;  // element strides of positions and channels
  int64_t k1, k2, st1, st2, p1, p2;      // kernel size, strides, leading padding
  int64_t groups, lg, sg;                // groups, and channels per group on each side
  // Weight w(d1, d2, cl, cs) lies at w_off + d1*wk1 + d2*wk2 + (cl % lg)*wl + cs*ws
  // (+ item * w_bstride): nengo's kernel is (k..., in channels per group, out channels).
  int64_t w_off, w_bstride, wk1, wk2, wl, ws;
  int64_t work;
};

template <typename T>
class ConvIncKernel : public Kernel<T> {
 public:
  ConvIncKernel(const Params& p, const Shape& s, bool transpose);
  void forward(const Context<T>& ctx) override;
  bool differentiable() const override { return true; }
  std::vector<VecRef> saved() const override;
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  void run_item(const Context<T>& ctx, int64_t i, bool parallel) const;

  bool transpose_;
  std::vector<ConvItem> items_;
  std::vector<VecRef> x_, y_;
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0, max_item_work_ = 0;
};

}  // namespace nengo_native
