// TimeUpdate: the step counter and the simulated time.
#pragma once

#include "../core/kernel.h"

namespace nengo_native {

template <typename T>
class TimeUpdateKernel : public Kernel<T> {
 public:
  TimeUpdateKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  int64_t work() const override { return 1; }
  // Time is not differentiable: the time signal it sets passes nothing on.
  bool differentiable() const override { return true; }
  void backward(const Context<T>&, T* grad) override { grad[time_off_] = T(0); }

 private:
  int64_t step_off_, time_off_;
};

}  // namespace nengo_native
