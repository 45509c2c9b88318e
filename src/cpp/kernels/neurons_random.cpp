// StochasticSpiking and PoissonSpiking: spikes drawn from the op's own numpy RandomState.
#include <cmath>
#include <stdexcept>
#include <string>

#include "../core/parallel.h"
#include "neurons.h"

namespace nengo_native {
namespace {

template <typename T>
T np_sign(T x) {
  if (std::isnan(x)) return x;
  return x > 0 ? T(1) : (x < 0 ? T(-1) : T(0));
}

}  // namespace

template <typename T>
RandomSpikingKernel<T>::RandomSpikingKernel(const Params& p, const Shape& s, bool poisson)
    : poisson_(poisson) {
  const size_t n = p.int_array("J_off").size();
  j_ = read_vec_refs(p, "J", n, s.arena_size, s.minibatch_size);
  out_ = read_vec_refs(p, "output", n, s.arena_size, s.minibatch_size);
  amplitude_ = p.real_array("amplitude", n);
  negative_ = p.int_array("negative", n);
  read_chain_ptr(p, n);
  // One generator per op and minibatch item, op-major.
  const size_t n_rng = n * static_cast<size_t>(s.minibatch_size);
  const auto& key = p.int_array("rng_key", n_rng * MT19937::kN);
  const auto& pos = p.int_array("rng_pos", n_rng);
  for (size_t k = 0; k < n_rng; ++k) rng_.emplace_back(key.data() + k * MT19937::kN, pos[k]);
  minibatch_size_ = s.minibatch_size;
  for (size_t i = 0; i < n; ++i) {
    if (j_[i].n != out_[i].n) throw std::invalid_argument("neurons: J and output sizes differ");
    work_ += out_[i].n * s.minibatch_size;
  }
}

template <typename T>
void RandomSpikingKernel<T>::set_params(const Params& p) {
  const size_t n_rng = rng_.size();
  const auto& key = p.int_array("rng_key", n_rng * MT19937::kN);
  const auto& pos = p.int_array("rng_pos", n_rng);
  for (size_t k = 0; k < n_rng; ++k) rng_[k] = MT19937(key.data() + k * MT19937::kN, pos[k]);
}

template <typename T>
std::string RandomSpikingKernel<T>::run_item(const Context<T>& ctx, size_t i) {
  const VecRef &j = j_[i], &o = out_[i];
  const bool negative = negative_[i] != 0;
  const T dt = T(ctx.dt);
  // Python-level `amplitude / dt`: a double that numpy rounds to T when it meets T values.
  const double spike = amplitude_[i] / ctx.dt;
  // Each minibatch item draws from its own stream (item 0's is nengo's).
  for (int64_t b = 0; b < ctx.minibatch_size; ++b) {
    MT19937& rng = rng_[i * minibatch_size_ + b];
    const T* pj = ctx.data + j.off + b * j.bstride;
    T* po = ctx.data + o.off + b * o.bstride;
    if (poisson_) {
      // numpy validates the whole lam array before the first draw.
      const double lam_max = poisson_lam_max();
      for (int64_t e = 0; e < o.n; ++e) {
        const T x = pj[e * j.stride];
        const double lam = static_cast<double>((negative ? std::fabs(x) : x) * dt);
        if (!(lam >= 0)) return "lam < 0 or lam contains NaNs";
        if (lam > lam_max) return "lam value too large";
      }
      // amplitude/dt times the int64 counts is a float64 array in numpy, multiplied in
      // double by sign(J) before being stored as T.
      for (int64_t e = 0; e < o.n; ++e) {
        const T x = pj[e * j.stride];
        const double lam = static_cast<double>((negative ? std::fabs(x) : x) * dt);
        double value = spike * static_cast<double>(poisson(rng, lam));
        if (negative) value = value * static_cast<double>(np_sign(x));
        po[e * o.stride] = static_cast<T>(value);
      }
    } else {
      const T tspike = T(spike);
      for (int64_t e = 0; e < o.n; ++e) {
        const T x = pj[e * j.stride];
        T n_spikes;
        const T frac = std::modf(dt * (negative ? std::fabs(x) : x), &n_spikes);
        // numpy compares the float64 draw with frac promoted to float64.
        n_spikes = n_spikes + T(rng.next_double() < static_cast<double>(frac) ? 1 : 0);
        T value = tspike * n_spikes;
        if (negative) value = value * np_sign(x);
        po[e * o.stride] = value;
      }
    }
  }
  return {};
}

template <typename T>
void RandomSpikingKernel<T>::forward(const Context<T>& ctx) {
  // Every item has its own generator, so items may run on any thread; errors are collected
  // and the first (in item order) is raised, never thrown across the OpenMP region.
  const int64_t n = static_cast<int64_t>(j_.size());
  std::vector<std::string> errors(static_cast<size_t>(n));
  parallel_for(n, work_ >= kParallelThreshold,
               [&](int64_t i) { errors[i] = run_item(ctx, static_cast<size_t>(i)); });
  for (const auto& e : errors)
    if (!e.empty()) throw std::domain_error(e);
}

// The flag is `poisson`: PoissonSpiking draws spike counts, StochasticSpiking a coin per neuron.
// The generator states are the op's RandomState, copied once: nengo never reseeds it on
// reset. A predict minibatch gives its items their streams in the whole batch (state).
REGISTER_KERNEL_WITH("neurons_stochastic_spiking", RandomSpikingKernel,
                     KernelSchema()
                         .vecs({"J", "output"})
                         .reals({"amplitude"})
                         .ints({"negative", "rng_key", "rng_pos"})
                         .chains()
                         .state({"rng_key", "rng_pos"}),
                     bool, false);
REGISTER_KERNEL_WITH("neurons_poisson_spiking", RandomSpikingKernel,
                     KernelSchema()
                         .vecs({"J", "output"})
                         .reals({"amplitude"})
                         .ints({"negative", "rng_key", "rng_pos"})
                         .chains()
                         .state({"rng_key", "rng_pos"}),
                     bool, true);

}  // namespace nengo_native
