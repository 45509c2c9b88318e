// Learning rules (SimPES, SimBCM, SimOja, SimVoja, SimRLS): each computes its weight change
// `delta` (and RLS its inverse-correlation matrix P) with nengo's numpy arithmetic, in the
// same order, for every minibatch item (each item learns its own copy of the weights).
#pragma once

#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

enum class LearningRule { PES, BCM, Oja, Voja, RLS };

template <typename T>
class LearningKernel : public Kernel<T> {
 public:
  LearningKernel(const Params& p, const Shape& s, LearningRule rule);
  void forward(const Context<T>& ctx) override;

 private:
  void run_item(const Context<T>& ctx, int64_t i, int64_t b) const;

  LearningRule rule_;
  // Per op: the vectors the rule reads (unused ones are empty), delta, and for Oja the
  // weights, for Voja the encoders, for RLS the matrix P (all as `mat_`).
  std::vector<VecRef> pre_, post_, error_, theta_, lsig_;
  std::vector<MatRef> delta_, mat_;
  std::vector<double> alpha_, beta_;
  // Voja's per-neuron encoder scale: op i's entries are scale_[scale_ptr_[i] ..].
  std::vector<int64_t> scale_ptr_;
  std::vector<double> scale_;
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
