// SimProcess running a nengo LinearFilter (Lowpass, Alpha, any LTI filter): one kernel call
// over a group of filters, each with its own step variant, as nengo's Step classes.
#pragma once

#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

// nengo's LinearFilter Step classes; the planner picks one per filter with nengo's own rules.
enum class FilterVariant : int64_t { NoX = 0, OneX = 1, OneXScalar = 2, NoD = 3, General = 4 };

// One minibatch item of one filter, with nengo's Step arithmetic: `pu`, `py`, `px` point at
// the item's input, output and state; `u`, `out`, `x` give sizes and strides (their offsets
// are not used). `c` holds the variant's coefficients, `ns` the number of states. Shared
// with the filtered-noise kernel, which filters noise drawn into a buffer.
template <typename T>
void filter_apply(FilterVariant variant, const double* c, bool inc, int64_t ns, const T* pu,
                  const VecRef& u, T* py, const VecRef& out, T* px, const MatRef& x);

template <typename T>
class LinearFilterKernel : public Kernel<T> {
 public:
  LinearFilterKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool item_parallel() const override { return per_item(out_) && per_item(x_); }
  int64_t work() const override { return work_; }
  // Linear with constant coefficients: the reverse step needs no recorded values.
  bool differentiable() const override { return true; }
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  void run_item(const Context<T>& ctx, int64_t i) const;

  std::vector<FilterVariant> variant_;
  std::vector<int64_t> inc_;
  // Item i's coefficients are coef_[coef_ptr_[i] .. coef_ptr_[i+1]): NoX: d; OneX: a, b;
  // NoD/General: A (row-major), B, C, D.
  std::vector<int64_t> coef_ptr_;
  std::vector<double> coef_;
  std::vector<VecRef> u_, out_;
  std::vector<MatRef> x_;  // state: one row per state element, one column per signal element
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
