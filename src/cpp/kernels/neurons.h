// SimNeurons: one kernel per nengo neuron type. Every kernel replays nengo's numpy arithmetic
// operation by operation (same order, same rounding, same special cases) so that rates match
// nengo to rounding and spike trains match exactly.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"
#include "random.h"

namespace nengo_native {

// A contiguous run of neurons of one item: the unit of static parallel work.
struct NeuronBlock {
  int64_t item, begin, end;
};

// Neuron types whose step is a pure per-neuron update (`Model<T>` holds one item's constants
// and updates one neuron). Each neuron is computed by exactly one thread with the same
// arithmetic, so any split of the work gives the same numbers.
template <typename T, template <typename> class Model>
class PointNeuronKernel : public Kernel<T> {
 public:
  PointNeuronKernel(const Params& p, const Shape& s);
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
  std::vector<char> unit_;  // item i has every signal at unit stride
  int64_t work_ = 0;
};

// The parameters of a point-neuron kernel: J, output and the model's states as refs, its
// constants as one real per op. The exact kernels and their throughput siblings
// (neurons_fast.h) declare the same.
template <template <typename> class Model>
KernelSchema point_neuron_schema() {
  KernelSchema schema;
  schema.vecs({"J", "output"});
  for (const char* name : Model<double>::kStateNames) schema.vecs({name});
  for (const char* name : Model<double>::kParamNames) schema.reals({name});
  return schema.chains();
}

// StochasticSpiking and PoissonSpiking: spikes drawn from the op's own numpy RandomState.
//
// The generator state is copied from `rng.get_state()` when the model is planned; from then
// on this kernel owns the stream and the RandomState left in the nengo model is no longer
// advanced. Like nengo (which never reseeds that RandomState), reset() does not rewind it.
template <typename T>
class RandomSpikingKernel : public Kernel<T> {
 public:
  RandomSpikingKernel(const Params& p, const Shape& s, bool poisson);
  void forward(const Context<T>& ctx) override;
  // New generator states (rng_key, rng_pos), e.g. for the items of a predict minibatch.
  void set_params(const Params& p) override;

 private:
  // Returns an error message, empty on success.
  std::string run_item(const Context<T>& ctx, size_t i);

  bool poisson_;
  std::vector<VecRef> j_, out_;
  std::vector<double> amplitude_;
  std::vector<int64_t> negative_;
  std::vector<MT19937> rng_;  // op i, item b: rng_[i * batch_ + b]
  int64_t minibatch_size_ = 1;
  int64_t work_ = 0;
};

}  // namespace nengo_native
