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
  bool item_parallel() const override;
  int64_t work() const override { return work_; }
  bool differentiable() const override;
  std::vector<VecRef> saved() const override;
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  static constexpr size_t kStates = Model<T>::kStateNames.size();
  std::vector<VecRef> j_, out_;
  std::array<std::vector<VecRef>, kStates> state_;
  // Neurons [begin, end) of one thread's task: of minibatch item `b` of `item`, or, where
  // b == kRun, of a run of items whose minibatches lie back to back at unit stride in every
  // signal (counted from `item`'s start), which one vector loop covers.
  struct Segment {
    size_t item;
    int64_t b, begin, end;
  };
  static constexpr int64_t kRun = -1;
  void run_segment(const Context<T>& ctx, const Segment& seg) const;

  std::vector<Model<T>> model_;
  std::vector<Segment> segments_;
  // Items whose whole minibatch is one unit-stride block in every signal.
  std::vector<bool> packed_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
