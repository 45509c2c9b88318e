// DotInc family: Y += A @ X with A dense (strided view). Over a minibatch with a shared A
// the product is one matrix-matrix multiply.
#pragma once

#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

template <typename T>
class DotIncKernel : public Kernel<T> {
 public:
  DotIncKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;

 private:
  std::vector<MatRef> a_;
  std::vector<VecRef> x_, y_;
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
