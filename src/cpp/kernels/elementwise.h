// ElementwiseInc: Y += A * X over 2-D views, broadcasting through zero strides.
#pragma once

#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

template <typename T>
class ElementwiseIncKernel : public Kernel<T> {
 public:
  ElementwiseIncKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool item_parallel() const override { return per_item(y_); }
  int64_t work() const override { return work_; }
  bool differentiable() const override { return true; }
  std::vector<VecRef> saved() const override;
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  std::vector<MatRef> a_, x_, y_;
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
