// Spiking-aware training: spiking neuron models run forward in training runs, with a
// hand-written backward pass beside each forward.
//
// Each op of a group has a method (per op, so that one group can mix ensembles):
//   0 rate       forward and backward of the rate counterpart (LIF as LIFRate, ...): the
//                ordinary training run, for ops that are not spiking-aware;
//   1 spiking    the spiking forward; backward: the rate counterpart's derivative at the
//                current input (KerasSpiking's way); no gradient through the states;
//   2 surrogate  the spiking forward; backward through the membrane state, with the
//                spike's derivative d H(v - 1)/dv replaced by the fast sigmoid
//                1 / (1 + slope |v - 1|)^2 (reset and refractory times carry no gradient);
//   3 smooth     (tests) the forward whose exact derivative method 2's backward is: the
//                output spike H(v - 1) replaced by S(v - 1) = x / (1 + slope |x|), the
//                reset and refractory period still triggered by v > 1 (for LIF the
//                refractory period starts at the end of the step).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

template <typename T, template <typename> class Model>
class SpikingTrainKernel : public Kernel<T> {
 public:
  SpikingTrainKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool differentiable() const override { return true; }
  std::vector<VecRef> saved() const override;
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  static constexpr size_t kStates = Model<T>::kStateNames.size();
  template <typename Fn>
  void each(const Context<T>& ctx, Fn&& fn);
  std::vector<VecRef> j_, out_;
  std::array<std::vector<VecRef>, kStates> state_;
  std::vector<Model<T>> model_;
  std::vector<int64_t> method_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
