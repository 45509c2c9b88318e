#include "neurons_spiking_train.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "../core/parallel.h"

namespace nengo_native {
namespace {

enum Method : int64_t { kRate = 0, kSpiking = 1, kSurrogate = 2, kSmooth = 3 };

// The fast-sigmoid surrogate of the spike H(x) and its derivative.
template <typename T>
T smooth_spike(T x, T slope) {
  return x / (T(1) + slope * std::abs(x));
}
template <typename T>
T surrogate(T x, T slope) {
  const T d = T(1) + slope * std::abs(x);
  return T(1) / (d * d);
}

// LIFRate and the derivative that replaces its own in training (that of the smoothed
// rate curve when sigma > 0, as lif_smoothing).
template <typename T>
struct LifRateFn {
  T tau_rc, tau_ref, amplitude, sigma;
  T rate(T j) const {
    const T jm = j - T(1);
    return jm > T(0) ? amplitude / (tau_ref + tau_rc * std::log1p(T(1) / jm)) : T(0);
  }
  T slope_at(T jm) const {
    if (!(jm > T(0))) return T(0);
    const T denom = tau_ref + tau_rc * std::log1p(T(1) / jm);
    return amplitude * tau_rc / (denom * denom * jm * (jm + T(1)));
  }
  T derivative(T j) const {
    if (!(sigma > T(0))) return slope_at(j - T(1));
    const T z = (j - T(1)) / sigma;
    const T soft = z > T(30) ? j - T(1) : sigma * std::log1p(std::exp(z));
    return slope_at(soft) / (T(1) + std::exp(-z));
  }
};

// One LIF step (nengo's arithmetic for methods 1 and 2) on voltage v and refractory
// time rt; `forward` and `backward` side by side.
template <typename T>
struct LifStep {
  T dt, tau_rc, tau_ref, min_voltage, spike, slope;

  T factor(T rt) const {  // expm1(-delta_t / tau_rc) after the countdown rt -= dt
    const T r = rt - dt;
    const T d = r != r ? r : std::min(std::max(dt - r, T(0)), dt);
    return std::expm1(-d / tau_rc);
  }

  void forward(int64_t method, T j, T& out, T& v, T& rt) const {
    rt = rt - dt;
    const T d = rt != rt ? rt : std::min(std::max(dt - rt, T(0)), dt);
    v = v - (j - v) * std::expm1(-d / tau_rc);
    const bool spiked = v > T(1);
    out = method == kSmooth ? spike * smooth_spike(v - T(1), slope) : (spiked ? spike : T(0));
    if (spiked) {
      const T t_spike =
          method == kSmooth ? dt : dt + tau_rc * std::log1p(-(v - T(1)) / (j - T(1)));
      v = T(0);
      rt = tau_ref + t_spike;
    } else if (v < min_voltage) {
      v = min_voltage;
    }
  }

  // Surrogate backward from the state before the step (v, rt): g_out and g_v hold the
  // adjoints of the output and of the voltage after; g_v becomes the voltage's before.
  void backward(T j, T v, T rt, T g_out, T& g_v, T& g_j) const {
    const T f = factor(rt);
    const T v_pre = v - (j - v) * f;
    const bool kept = !(v_pre > T(1)) && !(v_pre < min_voltage);
    const T g_pre = (kept ? g_v : T(0)) + spike * surrogate(v_pre - T(1), slope) * g_out;
    g_v = g_pre * (T(1) + f);
    g_j += -f * g_pre;
  }
};

template <typename T>
struct SpikingLif {
  static constexpr std::array<const char*, 2> kStateNames{{"voltage", "refractory_time"}};
  static constexpr std::array<const char*, 6> kParamNames{
      {"tau_rc", "tau_ref", "min_voltage", "amplitude", "sigma", "slope"}};
  LifStep<T> lif;
  LifRateFn<T> rate;
  SpikingLif(const std::array<double, 6>& p, double dt)
      : lif{T(dt), T(p[0]), T(p[1]), T(p[2]), T(p[3] / dt), T(p[5])},
        rate{T(p[0]), T(p[1]), T(p[3]), T(p[4])} {}

  void forward(int64_t method, T j, T& out, T* s) const {
    if (method == kRate)
      out = rate.rate(j);
    else
      lif.forward(method, j, out, s[0], s[1]);
  }
  void backward(int64_t method, T j, const T* s, T g_out, T* gs, T& g_j) const {
    if (method == kRate || method == kSpiking) {
      g_j += rate.derivative(j) * g_out;
      if (method == kSpiking) gs[0] = gs[1] = T(0);
      return;
    }
    lif.backward(j, s[0], s[1], g_out, gs[0], g_j);
    gs[1] = T(0);
  }
};

template <typename T>
struct SpikingAdaptiveLif {
  static constexpr std::array<const char*, 3> kStateNames{
      {"voltage", "refractory_time", "adaptation"}};
  static constexpr std::array<const char*, 8> kParamNames{
      {"tau_rc", "tau_ref", "min_voltage", "amplitude", "tau_n", "inc_n", "sigma", "slope"}};
  LifStep<T> lif;
  LifRateFn<T> rate;
  T r, inc_n;
  SpikingAdaptiveLif(const std::array<double, 8>& p, double dt)
      : lif{T(dt), T(p[0]), T(p[1]), T(p[2]), T(p[3] / dt), T(p[7])},
        rate{T(p[0]), T(p[1]), T(p[3]), T(p[6])},
        r(T(dt / p[4])),
        inc_n(T(p[5])) {}

  // n += (dt / tau_n) * (inc_n * output - n), after the LIF step on J - n.
  void forward(int64_t method, T j, T& out, T* s) const {
    if (method == kRate)
      out = rate.rate(j - s[2]);
    else
      lif.forward(method, j - s[2], out, s[0], s[1]);
    s[2] = s[2] + r * (inc_n * out - s[2]);
  }
  void backward(int64_t method, T j, const T* s, T g_out, T* gs, T& g_j) const {
    const T g_total = g_out + r * inc_n * gs[2];
    T g_u = T(0);
    if (method == kRate || method == kSpiking) {
      g_u = rate.derivative(j - s[2]) * g_total;
      if (method == kSpiking) gs[0] = gs[1] = T(0);
    } else {
      lif.backward(j - s[2], s[0], s[1], g_total, gs[0], g_u);
      gs[1] = T(0);
    }
    g_j += g_u;
    gs[2] = (T(1) - r) * gs[2] - g_u;
  }
};

// SpikingRectifiedLinear (rectify = true) and RegularSpiking: v += dt * max(J, 0) (or
// dt * J), floor(v) spikes, subtracted from v. The rate counterparts are amplitude *
// max(J, 0) and amplitude * J.
template <typename T, bool kRectify>
struct IntegrateAndFire {
  static constexpr std::array<const char*, 1> kStateNames{{"voltage"}};
  static constexpr std::array<const char*, 2> kParamNames{{"amplitude", "slope"}};
  T dt, amplitude, spike, slope;
  IntegrateAndFire(const std::array<double, 2>& p, double dt_)
      : dt(T(dt_)), amplitude(T(p[0])), spike(T(p[0] / dt_)), slope(T(p[1])) {}

  T input(T j) const { return kRectify ? (j > T(0) ? j : T(0)) : j; }
  T input_slope(T j) const { return kRectify ? (j > T(0) ? T(1) : T(0)) : T(1); }

  void forward(int64_t method, T j, T& out, T* s) const {
    if (method == kRate) {
      out = amplitude * input(j);
      return;
    }
    const T u = s[0] + input(j) * dt;
    const T n = std::floor(u);
    out = method == kSmooth ? spike * smooth_spike(u - T(1), slope) : spike * n;
    s[0] = u - n;
  }
  void backward(int64_t method, T j, const T* s, T g_out, T* gs, T& g_j) const {
    if (method == kRate || method == kSpiking) {
      g_j += amplitude * input_slope(j) * g_out;
      if (method == kSpiking) gs[0] = T(0);
      return;
    }
    const T u = s[0] + input(j) * dt;
    const T g_u = gs[0] + spike * surrogate(u - T(1), slope) * g_out;
    gs[0] = g_u;
    g_j += g_u * dt * input_slope(j);
  }
};

template <typename T>
using SpikingRectifiedLinearTrain = IntegrateAndFire<T, true>;
template <typename T>
using RegularSpikingTrain = IntegrateAndFire<T, false>;

}  // namespace

template <typename T, template <typename> class Model>
SpikingTrainKernel<T, Model>::SpikingTrainKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("J_off").size();
  j_ = read_vec_refs(p, "J", n, s.arena_size, s.minibatch_size);
  out_ = read_vec_refs(p, "output", n, s.arena_size, s.minibatch_size);
  for (size_t k = 0; k < kStates; ++k)
    state_[k] = read_vec_refs(p, Model<T>::kStateNames[k], n, s.arena_size, s.minibatch_size);
  method_ = p.int_array("method", n);
  constexpr size_t kParams = Model<T>::kParamNames.size();
  for (size_t i = 0; i < n; ++i) {
    if (method_[i] < kRate || method_[i] > kSmooth)
      throw std::invalid_argument("spiking training: method must be 0..3");
    if (j_[i].n != out_[i].n)
      throw std::invalid_argument("spiking training: J and output sizes differ");
    for (size_t k = 0; k < kStates; ++k)
      if (state_[k][i].n != out_[i].n)
        throw std::invalid_argument(std::string("spiking training: state '") +
                                    Model<T>::kStateNames[k] + "' size differs from output");
    std::array<double, kParams> values{};
    for (size_t k = 0; k < kParams; ++k) values[k] = p.real_array(Model<T>::kParamNames[k], n)[i];
    model_.emplace_back(values, s.dt);
    work_ += out_[i].n * s.minibatch_size * kNeuronWork;
  }
}

// Calls fn(i, model, method, &J, &out, state pointers, state strides, n) for every op
// and minibatch item, one unit of parallel work each: every neuron is computed by one
// thread with the same arithmetic, so results do not depend on the thread count.
template <typename T, template <typename> class Model>
template <typename Fn>
void SpikingTrainKernel<T, Model>::each(const Context<T>& ctx, Fn&& fn) {
  const int64_t minibatch_size = ctx.minibatch_size;
  const int64_t units = static_cast<int64_t>(model_.size()) * minibatch_size;
  parallel_for(units, work_ >= kParallelThreshold, [&](int64_t w) {
    const size_t i = static_cast<size_t>(w / minibatch_size);
    const int64_t b = w % minibatch_size;
    const VecRef &j = j_[i], &o = out_[i];
    std::array<int64_t, kStates> soff{}, sstr{};
    for (size_t k = 0; k < kStates; ++k) {
      soff[k] = state_[k][i].off + b * state_[k][i].bstride;
      sstr[k] = state_[k][i].stride;
    }
    for (int64_t e = 0; e < o.n; ++e) {
      std::array<int64_t, kStates> at{};
      for (size_t k = 0; k < kStates; ++k) at[k] = soff[k] + e * sstr[k];
      fn(model_[i], method_[i], j.off + b * j.bstride + e * j.stride,
         o.off + b * o.bstride + e * o.stride, at);
    }
  });
}

template <typename T, template <typename> class Model>
void SpikingTrainKernel<T, Model>::forward(const Context<T>& ctx) {
  T* data = ctx.data;
  each(ctx, [data](const Model<T>& m, int64_t method, int64_t oj, int64_t oo,
                   const std::array<int64_t, kStates>& at) {
    std::array<T, kStates> s{};
    for (size_t k = 0; k < kStates; ++k) s[k] = data[at[k]];
    m.forward(method, data[oj], data[oo], s.data());
    for (size_t k = 0; k < kStates; ++k) data[at[k]] = s[k];
  });
}

template <typename T, template <typename> class Model>
std::vector<VecRef> SpikingTrainKernel<T, Model>::saved() const {
  std::vector<VecRef> refs = j_;
  for (size_t k = 0; k < kStates; ++k)
    refs.insert(refs.end(), state_[k].begin(), state_[k].end());
  return refs;
}

template <typename T, template <typename> class Model>
void SpikingTrainKernel<T, Model>::backward(const Context<T>& ctx, T* grad) {
  const T* data = ctx.data;
  each(ctx, [data, grad](const Model<T>& m, int64_t method, int64_t oj, int64_t oo,
                         const std::array<int64_t, kStates>& at) {
    std::array<T, kStates> s{}, gs{};
    for (size_t k = 0; k < kStates; ++k) {
      s[k] = data[at[k]];
      gs[k] = grad[at[k]];
    }
    const T g_out = grad[oo];
    grad[oo] = T(0);
    m.backward(method, data[oj], s.data(), g_out, gs.data(), grad[oj]);
    for (size_t k = 0; k < kStates; ++k) grad[at[k]] = gs[k];
  });
}

template <typename T>
using LifTrainKernel = SpikingTrainKernel<T, SpikingLif>;
template <typename T>
using AdaptiveLifTrainKernel = SpikingTrainKernel<T, SpikingAdaptiveLif>;
template <typename T>
using SpikingRectifiedLinearTrainKernel = SpikingTrainKernel<T, SpikingRectifiedLinearTrain>;
template <typename T>
using RegularSpikingTrainKernel = SpikingTrainKernel<T, RegularSpikingTrain>;

// The schema follows from the model: J, output and the states as refs, the method code,
// the parameters as reals.
template <template <typename> class Model>
KernelSchema spiking_train_schema() {
  KernelSchema schema;
  schema.vecs({"J", "output"});
  for (const char* name : Model<double>::kStateNames) schema.vecs({name});
  schema.ints({"method"});
  for (const char* name : Model<double>::kParamNames) schema.reals({name});
  return schema.chains();
}

REGISTER_KERNEL("neurons_lif_train", LifTrainKernel, spiking_train_schema<SpikingLif>());
REGISTER_KERNEL("neurons_adaptive_lif_train", AdaptiveLifTrainKernel,
                spiking_train_schema<SpikingAdaptiveLif>());
REGISTER_KERNEL("neurons_spiking_rectified_linear_train", SpikingRectifiedLinearTrainKernel,
                spiking_train_schema<SpikingRectifiedLinearTrain>());
REGISTER_KERNEL("neurons_regular_spiking_train", RegularSpikingTrainKernel,
                spiking_train_schema<RegularSpikingTrain>());

}  // namespace nengo_native
