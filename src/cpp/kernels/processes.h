// SimProcess for nengo's built-in processes other than linear filters:
//  - process_noise: WhiteNoise, FilteredNoise and BrownNoise with Gaussian noise, drawn
//    from numpy's legacy RandomState stream (one stream per op and minibatch item);
//  - process_lookup: outputs that are a function of time read from a table (WhiteSignal's
//    periodic signal, PresentInput, Piecewise);
//  - process_triangle: nengo.synapses.Triangle's FIR filter.
#pragma once

#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"
#include "linear_filter.h"
#include "random.h"

namespace nengo_native {

// The reverse step of an output that depends on nothing differentiable: outputs it sets
// get adjoint 0; outputs it increments leave theirs unchanged.
template <typename T>
void zero_set_outputs(const std::vector<VecRef>& out, const std::vector<int64_t>& inc,
                      int64_t minibatch_size, T* grad) {
  for (size_t i = 0; i < out.size(); ++i) {
    if (inc[i]) continue;
    const VecRef& o = out[i];
    for (int64_t b = 0; b < minibatch_size; ++b)
      for (int64_t e = 0; e < o.n; ++e) grad[o.off + b * o.bstride + e * o.stride] = T(0);
  }
}

// The distribution a noise op draws from (exported as NOISE_DISTS).
enum NoiseDist : int64_t { kGaussian = 0, kUniform = 1, kChoice = 2 };

template <typename T>
class NoiseKernel : public Kernel<T> {
 public:
  NoiseKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  // A function of time and the seed only: what it sets passes no gradient on.
  bool differentiable() const override { return true; }
  void backward(const Context<T>& ctx, T* grad) override {
    zero_set_outputs(out_, inc_, ctx.minibatch_size, grad);
  }
  void reset() override { rng_ = initial_rng_; }
  // New generator states: rng_key, rng_pos, rng_has_gauss, rng_gauss (per op and item).
  void set_params(const Params& p) override;

 private:
  void run_item(const Context<T>& ctx, int64_t i);

  int64_t minibatch_size_;
  std::vector<VecRef> out_;
  std::vector<MatRef> x_;  // filter state (FilteredNoise), unused for white noise
  std::vector<int64_t> inc_, scale_, filter_;  // filter_: -1 for none, else FilterVariant
  // The distribution drawn from: kGaussian (mean_, std_), kUniform (low in mean_, range
  // in std_) or kChoice (op i's cumulative weights choice_cdf_[choice_ptr_[i]..] and
  // its options, a row of out.n values each, in choice_values_).
  std::vector<int64_t> dist_, choice_ptr_, choice_value_start_;
  std::vector<double> choice_cdf_, choice_values_;
  std::vector<double> mean_, std_, alpha_;
  std::vector<int64_t> coef_ptr_;
  std::vector<double> coef_;
  std::vector<int64_t> chain_ptr_;
  // Op i, item b draws from rng_[i * batch + b].
  std::vector<LegacyRandom> rng_, initial_rng_;
  int64_t work_ = 0;
};

// How a lookup op turns the time t into a table row (exported as LOOKUP_MODES).
enum class LookupMode : int64_t {
  Periodic = 0,       // WhiteSignal: row round(t / dt) mod rows
  Present = 1,        // PresentInput: row int((t - dt) / presentation_time + 1e-7) mod rows
  PiecewiseZero = 2,  // Piecewise 'zero': the last value whose time is before t + dt / 2
  StepGrid = 3,       // interpolated Piecewise: row n holds the value at step n's time
};

template <typename T>
class LookupKernel : public Kernel<T> {
 public:
  LookupKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  // A function of time and the seed only: what it sets passes no gradient on.
  bool differentiable() const override { return true; }
  void backward(const Context<T>& ctx, T* grad) override {
    zero_set_outputs(out_, inc_, ctx.minibatch_size, grad);
  }
  // New tables (table, table_ptr, table_bstride); modes, rows and sizes stay.
  void set_params(const Params& p) override;

 private:
  void read_tables(const Params& p);
  // Row of op i at time t, or -1 for an output of zeros; throws on a time off the grid.
  int64_t row(size_t i, double t) const;

  int64_t minibatch_size_;
  std::vector<LookupMode> mode_;
  std::vector<VecRef> out_;
  std::vector<int64_t> inc_, t_off_, rows_;
  // Op i's table: rows_[i] x out_[i].n values per item at table_ptr_[i] + b * table_bstride_[i]
  // (bstride 0: every item reads the same table).
  std::vector<int64_t> table_ptr_, table_bstride_;
  std::vector<double> table_;
  // Op i's constants: aux_[aux_ptr_[i] ..]; Periodic: dt; Present: dt, presentation time;
  // PiecewiseZero: dt, times; StepGrid: dt, the time of every row.
  std::vector<int64_t> aux_ptr_;
  std::vector<double> aux_;
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0;
};

template <typename T>
class TriangleKernel : public Kernel<T> {
 public:
  TriangleKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;

 private:
  void run_item(const Context<T>& ctx, int64_t i) const;

  std::vector<VecRef> u_, out_, y_, xi_;
  std::vector<MatRef> x_;  // n_taps rows, one column per signal element
  std::vector<int64_t> inc_;
  std::vector<double> n0_, ndiff_;
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
