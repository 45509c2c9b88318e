// SimNeurons in the throughput mode (exact=False): siblings of the exact kernels in
// neurons.cpp that take the same parameters, but run every neuron in SIMD lanes with the
// vector transcendentals of core/vmath.h (a few ULP) instead of numpy's libm calls. Spike
// trains and rates agree with the exact kernels statistically, not bit for bit.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"
#include "neurons.h"

namespace nengo_native {

template <typename T, template <typename> class Model>
class FastNeuronKernel : public Kernel<T> {
 public:
  FastNeuronKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool differentiable() const override;
  std::vector<VecRef> saved() const override;
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  static constexpr size_t kStates = Model<T>::kStateNames.size();
  std::vector<VecRef> j_, out_;
  std::array<std::vector<VecRef>, kStates> state_;
  std::vector<Model<T>> model_;
  std::vector<NeuronBlock> blocks_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
