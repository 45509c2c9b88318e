#include "neurons.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "../core/parallel.h"
#include "../core/simd.h"

namespace nengo_native {
namespace {

// Unit-stride neurons are updated in chunks of this many, so that models can keep
// per-chunk scratch on the stack.
constexpr int64_t kChunk = 256;

// numpy's maximum(a, b): NaN in either operand propagates; ties keep the first.
template <typename T>
T np_maximum(T a, T b) {
  return (a >= b || std::isnan(a)) ? a : b;
}

// numpy's umath.clip(x, lo, hi) (what nengo's LIF uses): NaN in x propagates.
template <typename T>
T np_clip(T x, T lo, T hi) {
  if (std::isnan(x)) return x;
  x = x > lo ? x : lo;
  return x < hi ? x : hi;
}

// The models. Each holds one item's constants, converted once the way numpy converts a
// Python float meeting an array of the arena's type: a Python-level product such as
// `amplitude / dt` is formed in double and then rounded to T. `step` updates one neuron.
// Parameter and state names match the Python lowering's.

// nengo's LIF step. The decay factor expm1(-delta_t / tau_rc), with
// delta_t = clip(dt - refractory_time, 0, dt), takes only two values for most neurons in
// a step: delta_t is exactly dt once the refractory period is over (a per-item constant)
// and exactly 0 during it (expm1(-0) is -0). `block` applies those in loops that
// vectorize and calls expm1 only for the neurons whose refractory period ends inside the
// step, and log1p only for the neurons that spike, so every neuron still gets nengo's
// arithmetic bit for bit.
template <typename T>
struct LifCore {
  T dt, tau_rc, tau_ref, min_voltage, spike, decay;
  LifCore(double dt_, double tau_rc_, double tau_ref_, double min_voltage_, double amplitude)
      : dt(T(dt_)),
        tau_rc(T(tau_rc_)),
        tau_ref(T(tau_ref_)),
        min_voltage(T(min_voltage_)),
        spike(T(amplitude / dt_)),
        decay(std::expm1(-dt / tau_rc)) {}

  T factor(T delta_t) const {
    if (delta_t == dt) return decay;
    if (delta_t == T(0)) return -delta_t;
    return std::expm1(-delta_t / tau_rc);
  }

  void step(T j, T& out, T& v, T& rt) const {
    rt = rt - dt;
    update(j, out, v, rt);
  }

  // The step after the refractory countdown.
  void update(T j, T& out, T& v, T& rt) const {
    const T delta_t = np_clip(dt - rt, T(0), dt);
    v = v - (j - v) * factor(delta_t);
    const bool spiked = v > T(1);
    out = spiked ? spike : T(0);
    if (spiked)
      fire(j, v, rt);
    else if (v < min_voltage)
      v = min_voltage;
  }

  // A neuron over threshold (v unclipped): its spike time inside the step starts its
  // refractory period.
  void fire(T j, T& v, T& rt) const {
    const T t_spike = dt + tau_rc * std::log1p(-(v - T(1)) / (j - T(1)));
    v = T(0);
    rt = tau_ref + t_spike;
  }

  void block(int64_t n, const T* j, T* out, T* v, T* rt) const;
};

// Appends to `list` the indices e + lane of the set lanes of `m`, without a branch per
// lane: each group of 4 lanes writes all 4 slots of its packed indices (a table lookup)
// and advances by the number set. `list` needs kWidth spare slots past its last index.
template <typename T>
NENGO_NATIVE_INLINE void append_set_lanes(simd::M<T> m, int32_t e, int32_t* list,
                                          int64_t& count) {
  // kPacked[bits] lists the positions of the set bits of a 4-bit mask, padded with 0.
  static constexpr int8_t kPacked[16][4] = {
      {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0}, {2, 0, 0, 0}, {0, 2, 0, 0},
      {1, 2, 0, 0}, {0, 1, 2, 0}, {3, 0, 0, 0}, {0, 3, 0, 0}, {1, 3, 0, 0}, {0, 1, 3, 0},
      {2, 3, 0, 0}, {0, 2, 3, 0}, {1, 2, 3, 0}, {0, 1, 2, 3}};
  const unsigned all = simd::lane_bits<T>(m);
  for (int64_t h = 0; h < simd::kWidth<T>; h += 4) {
    const unsigned bits = (all >> h) & 15u;
    int32_t* slot = list + count;
    for (int64_t i = 0; i < 4; ++i) slot[i] = e + static_cast<int32_t>(h) + kPacked[bits][i];
    count += __builtin_popcount(bits);
  }
}

// n <= kChunk neurons at unit stride: `step`'s arithmetic in one vector pass, W neurons
// per operation (the last partial vector padded with zeros, which neither spike nor leave
// a refractory period, and is never stored). The pass lists the few neurons that need a
// transcendental: those whose refractory period ends inside the step (their decay factor
// needs expm1; the pass leaves their voltage alone and a scalar loop does their whole
// update, `LifCore::update`) and those that spike (their spike time needs log1p,
// `LifCore::fire`). Every neuron still gets nengo's arithmetic bit for bit.
template <typename T>
NENGO_NATIVE_INLINE void lif_block(const LifCore<T>& lif, int64_t n, const T* __restrict j,
                                   T* __restrict out, T* __restrict v, T* __restrict rt) {
  using simd::load_part;
  using simd::splat;
  using simd::store_part;
  using V = simd::V<T>;
  using M = simd::M<T>;
  constexpr int64_t W = simd::kWidth<T>;
  const V vdt = splat(lif.dt), vdecay = splat(lif.decay), vnegzero = splat(T(-0.0)),
          vzero = splat(T(0)), vone = splat(T(1)), vspike = splat(lif.spike),
          vmin = splat(lif.min_voltage);
  int32_t partial[kChunk + W], spiked[kChunk + W];
  int64_t n_partial = 0, n_spiked = 0;
  for (int64_t e = 0; e < n; e += W) {
    const int64_t m = std::min(W, n - e);
    const V r = load_part(rt + e, m, T(0)) - vdt;
    store_part(rt + e, r, m);
    // clip(dt - r, 0, dt) is dt (factor `decay`) or 0 (factor expm1(-0) = -0) for all
    // but the neurons leaving their refractory period (and NaN).
    const V d = vdt - r;
    const M full = d >= vdt, none = d <= vzero;
    const M part = ~(full | none);
    const V v0 = load_part(v + e, m, T(0));
    const V v1 = v0 - (load_part(j + e, m, T(0)) - v0) * (full ? vdecay : vnegzero);
    const M s = (v1 > vone) & ~part;
    store_part(out + e, s ? vspike : vzero, m);
    // A spiking neuron keeps its unclipped voltage for the spike time below.
    const V clipped = v1 < vmin ? vmin : v1;
    store_part(v + e, part ? v0 : (s ? v1 : clipped), m);
    append_set_lanes<T>(part, static_cast<int32_t>(e), partial, n_partial);
    append_set_lanes<T>(s, static_cast<int32_t>(e), spiked, n_spiked);
  }
  for (int64_t k = 0; k < n_partial; ++k) {
    const int64_t e = partial[k];
    lif.update(j[e], out[e], v[e], rt[e]);
  }
  for (int64_t k = 0; k < n_spiked; ++k) {
    const int64_t e = spiked[k];
    lif.fire(j[e], v[e], rt[e]);
  }
}

NENGO_NATIVE_MULTIVERSION
void lif_block_dispatch(const LifCore<float>& lif, int64_t n, const float* j, float* out, float* v,
                        float* rt) {
  lif_block(lif, n, j, out, v, rt);
}

NENGO_NATIVE_MULTIVERSION
void lif_block_dispatch(const LifCore<double>& lif, int64_t n, const double* j, double* out,
                        double* v, double* rt) {
  lif_block(lif, n, j, out, v, rt);
}

template <typename T>
void LifCore<T>::block(int64_t n, const T* j, T* out, T* v, T* rt) const {
  lif_block_dispatch(*this, n, j, out, v, rt);
}

template <typename T>
struct LifRateCore {
  T tau_rc, tau_ref, amplitude;
  LifRateCore(double tau_rc_, double tau_ref_, double amplitude_)
      : tau_rc(T(tau_rc_)), tau_ref(T(tau_ref_)), amplitude(T(amplitude_)) {}

  // j <= 1 (and NaN) gives 0 without reaching log1p, as in nengo.
  void step(T j, T& out) const {
    const T jm = j - T(1);
    out = T(0);
    if (jm > T(0)) out = amplitude / (tau_ref + tau_rc * std::log1p(T(1) / jm));
  }

  // d(rate)/dJ at an input current j - 1 = jm > 0 (0 elsewhere: the rate is flat there).
  T slope(T jm) const {
    if (!(jm > T(0))) return T(0);
    const T denom = tau_ref + tau_rc * std::log1p(T(1) / jm);
    return amplitude * tau_rc / (denom * denom * jm * (jm + T(1)));
  }
  T derivative(T j) const { return slope(j - T(1)); }
};

// nengo's adaptation update, n += (dt / tau_n) * (inc_n * output - n).
template <typename T>
struct Adaptation {
  T rate, inc_n;
  Adaptation(double dt, double tau_n, double inc_n_) : rate(T(dt / tau_n)), inc_n(T(inc_n_)) {}
  void step(T out, T& n) const { n = n + rate * (inc_n * out - n); }
};

template <typename T>
struct Lif {
  static constexpr std::array<const char*, 2> kStateNames{{"voltage", "refractory_time"}};
  static constexpr std::array<const char*, 4> kParamNames{
      {"tau_rc", "tau_ref", "min_voltage", "amplitude"}};
  LifCore<T> core;
  Lif(const std::array<double, 4>& p, double dt) : core(dt, p[0], p[1], p[2], p[3]) {}
  void operator()(T j, T& out, T& v, T& rt) const { core.step(j, out, v, rt); }
  void block(int64_t n, const T* j, T* out, T* v, T* rt) const { core.block(n, j, out, v, rt); }
};

template <typename T>
struct LifRate {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 3> kParamNames{{"tau_rc", "tau_ref", "amplitude"}};
  LifRateCore<T> core;
  LifRate(const std::array<double, 3>& p, double) : core(p[0], p[1], p[2]) {}
  void operator()(T j, T& out) const { core.step(j, out); }
  T derivative(T j) const { return core.derivative(j); }
};

// LIFRate forward with the gradient of the smoothed ("soft") LIF rate: the input above
// threshold, j - 1, is replaced by sigma * log1p(exp((j - 1) / sigma)) when
// differentiating, so that neurons below threshold still pass a gradient (training a
// spiking LIF network through its rate counterpart with `lif_smoothing`).
template <typename T>
struct SmoothedLifRate {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 4> kParamNames{
      {"tau_rc", "tau_ref", "amplitude", "sigma"}};
  LifRateCore<T> core;
  T sigma;
  SmoothedLifRate(const std::array<double, 4>& p, double)
      : core(p[0], p[1], p[2]), sigma(T(p[3])) {}
  void operator()(T j, T& out) const { core.step(j, out); }
  T derivative(T j) const {
    const T z = (j - T(1)) / sigma;
    // softplus and its slope (the logistic function), without overflow for large z.
    const T soft = z > T(30) ? j - T(1) : sigma * std::log1p(std::exp(z));
    const T logistic = T(1) / (T(1) + std::exp(-z));
    return core.slope(soft) * logistic;
  }
};

// out = amplitude * J: the mean output of RegularSpiking, and of Stochastic/Poisson
// spiking with negative rates allowed, in training runs.
template <typename T>
struct Linear {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 1> kParamNames{{"amplitude"}};
  T amplitude;
  Linear(const std::array<double, 1>& p, double) : amplitude(T(p[0])) {}
  void operator()(T j, T& out) const { out = amplitude * j; }
  T derivative(T) const { return amplitude; }
};

template <typename T>
struct AdaptiveLif {
  static constexpr std::array<const char*, 3> kStateNames{
      {"voltage", "refractory_time", "adaptation"}};
  static constexpr std::array<const char*, 6> kParamNames{
      {"tau_rc", "tau_ref", "min_voltage", "amplitude", "tau_n", "inc_n"}};
  LifCore<T> core;
  Adaptation<T> adapt;
  AdaptiveLif(const std::array<double, 6>& p, double dt)
      : core(dt, p[0], p[1], p[2], p[3]), adapt(dt, p[4], p[5]) {}
  void operator()(T j, T& out, T& v, T& rt, T& n) const {
    core.step(j - n, out, v, rt);
    adapt.step(out, n);
  }
  void block(int64_t m, const T* __restrict j, T* __restrict out, T* v, T* rt,
             T* __restrict n) const {
    T j_in[kChunk] = {};
    for (int64_t e = 0; e < m; ++e) j_in[e] = j[e] - n[e];
    core.block(m, j_in, out, v, rt);
    for (int64_t e = 0; e < m; ++e) adapt.step(out[e], n[e]);
  }
};

template <typename T>
struct AdaptiveLifRate {
  static constexpr std::array<const char*, 1> kStateNames{{"adaptation"}};
  static constexpr std::array<const char*, 5> kParamNames{
      {"tau_rc", "tau_ref", "amplitude", "tau_n", "inc_n"}};
  LifRateCore<T> core;
  Adaptation<T> adapt;
  AdaptiveLifRate(const std::array<double, 5>& p, double dt)
      : core(p[0], p[1], p[2]), adapt(dt, p[3], p[4]) {}
  void operator()(T j, T& out, T& n) const {
    core.step(j - n, out);
    adapt.step(out, n);
  }
  // Reverse of operator() given J and n as they were before it: out = f(J - n),
  // n' = n + rate * (inc_n * out - n).
  void backward(T j, T n, T& g_j, T& g_out, T& g_n) const {
    const T g_rate = g_out + adapt.rate * adapt.inc_n * g_n;
    const T g_u = core.derivative(j - n) * g_rate;
    g_j += g_u;
    g_n = (T(1) - adapt.rate) * g_n - g_u;
    g_out = T(0);
  }
};

template <typename T>
struct RectifiedLinear {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 1> kParamNames{{"amplitude"}};
  T amplitude;
  RectifiedLinear(const std::array<double, 1>& p, double) : amplitude(T(p[0])) {}
  void operator()(T j, T& out) const { out = amplitude * np_maximum(T(0), j); }
  T derivative(T j) const { return j > T(0) ? amplitude : T(0); }
};

// Integrate-and-fire with whole spikes: also RegularSpiking, which integrates its input
// rate unrectified (nengo's `voltage += dt * J` versus `voltage += max(J, 0) * dt`).
template <typename T>
struct SpikingRectifiedLinear {
  static constexpr std::array<const char*, 1> kStateNames{{"voltage"}};
  static constexpr std::array<const char*, 1> kParamNames{{"amplitude"}};
  T dt, spike;
  SpikingRectifiedLinear(const std::array<double, 1>& p, double dt_)
      : dt(T(dt_)), spike(T(p[0] / dt_)) {}
  void operator()(T j, T& out, T& v) const {
    v = v + np_maximum(j, T(0)) * dt;
    const T n_spikes = std::floor(v);
    out = spike * n_spikes;
    v = v - n_spikes;
  }
};

template <typename T>
struct RegularSpiking {
  static constexpr std::array<const char*, 1> kStateNames{{"voltage"}};
  static constexpr std::array<const char*, 1> kParamNames{{"amplitude"}};
  T dt, spike;
  RegularSpiking(const std::array<double, 1>& p, double dt_) : dt(T(dt_)), spike(T(p[0] / dt_)) {}
  void operator()(T j, T& out, T& v) const {
    v = v + dt * j;
    const T n_spikes = std::floor(v);
    out = spike * n_spikes;
    v = v - n_spikes;
  }
};

template <typename T>
struct Sigmoid {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 1> kParamNames{{"tau_ref"}};
  T max_rate;
  Sigmoid(const std::array<double, 1>& p, double) : max_rate(T(1.0 / p[0])) {}
  void operator()(T j, T& out) const { out = max_rate / (T(1) + std::exp(-j)); }
  T derivative(T j) const {
    const T s = T(1) / (T(1) + std::exp(-j));
    return max_rate * s * (T(1) - s);
  }
};

// numpy computes float64 tanh with its own SIMD polynomial on some CPUs, which can differ
// from libm's by an ulp; rates still agree far inside 1e-12.
template <typename T>
struct Tanh {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 1> kParamNames{{"tau_ref"}};
  T max_rate;
  Tanh(const std::array<double, 1>& p, double) : max_rate(T(1.0 / p[0])) {}
  void operator()(T j, T& out) const { out = max_rate * std::tanh(j); }
  T derivative(T j) const {
    const T t = std::tanh(j);
    return max_rate * (T(1) - t * t);
  }
};

template <typename T>
struct Izhikevich {
  static constexpr std::array<const char*, 2> kStateNames{{"voltage", "recovery"}};
  static constexpr std::array<const char*, 4> kParamNames{
      {"tau_recovery", "coupling", "reset_voltage", "reset_recovery"}};
  T dt, spike, tau_recovery, coupling, reset_voltage, reset_recovery;
  Izhikevich(const std::array<double, 4>& p, double dt_)
      : dt(T(dt_)),
        spike(T(1.0 / dt_)),
        tau_recovery(T(p[0])),
        coupling(T(p[1])),
        reset_voltage(T(p[2])),
        reset_recovery(T(p[3])) {}
  void operator()(T j_in, T& out, T& v, T& u) const {
    const T j = np_maximum(T(-30), j_in);
    const T dv = (T(0.04) * (v * v) + T(5) * v + T(140) - u + j) * T(1000);
    v = v + dv * dt;
    out = v >= T(30) ? spike : T(0);
    const bool spiked = out > T(0);
    if (spiked) v = reset_voltage;
    const T du = (tau_recovery * (coupling * v - u)) * T(1000);
    u = u + du * dt;
    if (spiked) u = u + reset_recovery;
  }
};

template <typename M, typename T, size_t... I>
void step_neuron(const M& m, T j, T& out, [[maybe_unused]] const std::array<T*, sizeof...(I)>& s,
                 [[maybe_unused]] const std::array<int64_t, sizeof...(I)>& stride,
                 [[maybe_unused]] int64_t e, std::index_sequence<I...>) {
  m(j, out, s[I][e * stride[I]]...);
}

template <typename M, typename = void>
struct HasBlock : std::false_type {};
template <typename M>
struct HasBlock<M, std::void_t<decltype(&M::block)>> : std::true_type {};

// Neurons [begin, end) with every signal at unit stride: a model's own `block` where it
// has one, else its per-neuron update in a loop the compiler can vectorize.
template <typename M, typename T, size_t... I>
void step_unit(const M& m, int64_t begin, int64_t end, const T* __restrict j, T* __restrict out,
               const std::array<T*, sizeof...(I)>& s, std::index_sequence<I...>) {
  if constexpr (HasBlock<M>::value) {
    for (int64_t c = begin; c < end; c += kChunk)
      m.block(std::min(kChunk, end - c), j + c, out + c, (s[I] + c)...);
  } else {
    for (int64_t e = begin; e < end; ++e) m(j[e], out[e], s[I][e]...);
  }
}

// Whether a model can be differentiated: stateless models give d(out)/dJ, models with
// state their own reverse step.
template <typename M, typename = void>
struct HasDerivative : std::false_type {};
template <typename M>
struct HasDerivative<M, std::void_t<decltype(std::declval<const M&>().derivative(0.0f))>>
    : std::true_type {};
template <typename M, typename = void>
struct HasBackward : std::false_type {};
template <typename M>
struct HasBackward<M, std::void_t<decltype(&M::backward)>> : std::true_type {};
template <typename M>
constexpr bool kDifferentiable = HasDerivative<M>::value || HasBackward<M>::value;

// Whether every ref is unit-stride and no two of them share an element in any batch item.
bool unit_and_disjoint(const std::vector<VecRef>& refs, int64_t minibatch_size) {
  for (const VecRef& r : refs)
    if (r.stride != 1) return false;
  const auto span = [minibatch_size](const VecRef& r) {
    const int64_t reach = (minibatch_size - 1) * r.bstride;
    return std::pair<int64_t, int64_t>{r.off + std::min<int64_t>(0, reach),
                                       r.off + std::max<int64_t>(0, reach) + r.n};
  };
  for (size_t a = 0; a < refs.size(); ++a)
    for (size_t b = a + 1; b < refs.size(); ++b) {
      if (refs[a].n == 0 || refs[b].n == 0) continue;
      const auto [lo_a, hi_a] = span(refs[a]);
      const auto [lo_b, hi_b] = span(refs[b]);
      if (lo_a < hi_b && lo_b < hi_a) return false;  // conservative: whole batch spans
    }
  return true;
}

// Work is cut into blocks of this many neurons so that one big ensemble still spreads over
// threads; each neuron's arithmetic does not depend on the block it falls in.
constexpr int64_t kBlockNeurons = 2048;

}  // namespace

template <typename T, template <typename> class Model>
PointNeuronKernel<T, Model>::PointNeuronKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("J_off").size();
  j_ = read_vec_refs(p, "J", n, s.arena_size, s.minibatch_size);
  out_ = read_vec_refs(p, "output", n, s.arena_size, s.minibatch_size);
  for (size_t k = 0; k < kStates; ++k)
    state_[k] = read_vec_refs(p, Model<T>::kStateNames[k], n, s.arena_size, s.minibatch_size);
  constexpr size_t kParams = Model<T>::kParamNames.size();
  std::array<const std::vector<double>*, kParams> columns{};
  for (size_t k = 0; k < kParams; ++k) columns[k] = &p.real_array(Model<T>::kParamNames[k], n);
  read_chain_ptr(p, n);  // validated for the Program's sake; elementwise work needs no chains
  model_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t size = out_[i].n;
    if (j_[i].n != size)
      throw std::invalid_argument("neurons: J and output sizes differ");
    for (size_t k = 0; k < kStates; ++k)
      if (state_[k][i].n != size)
        throw std::invalid_argument(std::string("neurons: state '") +
                                    Model<T>::kStateNames[k] + "' size differs from output");
    std::array<double, kParams> values{};
    for (size_t k = 0; k < kParams; ++k) values[k] = (*columns[k])[i];
    model_.emplace_back(values, s.dt);
    // The unit-stride path reads and writes through restrict pointers: only for signals
    // that are contiguous and do not overlap (nengo always builds them so).
    std::vector<VecRef> refs{j_[i], out_[i]};
    for (size_t k = 0; k < kStates; ++k) refs.push_back(state_[k][i]);
    unit_.push_back(unit_and_disjoint(refs, s.minibatch_size));
    for (int64_t b = 0; b < size; b += kBlockNeurons)
      blocks_.push_back({static_cast<int64_t>(i), b, std::min(size, b + kBlockNeurons)});
    work_ += size * s.minibatch_size * kNeuronWork;
  }
}

template <typename T, template <typename> class Model>
void PointNeuronKernel<T, Model>::forward(const Context<T>& ctx) {
  const int64_t minibatch_size = ctx.minibatch_size;
  const int64_t units = static_cast<int64_t>(blocks_.size()) * minibatch_size;
  parallel_for(units, work_ >= kParallelThreshold, [&](int64_t w) {
    const NeuronBlock& blk = blocks_[w / minibatch_size];
    const int64_t b = w % minibatch_size;
    const size_t i = static_cast<size_t>(blk.item);
    const VecRef &j = j_[i], &o = out_[i];
    const T* pj = ctx.data + j.off + b * j.bstride;
    T* po = ctx.data + o.off + b * o.bstride;
    std::array<T*, kStates> ps{};
    std::array<int64_t, kStates> st{};
    for (size_t k = 0; k < kStates; ++k) {
      const VecRef& r = state_[k][i];
      ps[k] = ctx.data + r.off + b * r.bstride;
      st[k] = r.stride;
    }
    const Model<T>& m = model_[i];
    if (unit_[i]) {
      step_unit(m, blk.begin, blk.end, pj, po, ps, std::make_index_sequence<kStates>{});
      return;
    }
    for (int64_t e = blk.begin; e < blk.end; ++e)
      step_neuron(m, pj[e * j.stride], po[e * o.stride], ps, st, e,
                  std::make_index_sequence<kStates>{});
  });
}

template <typename T, template <typename> class Model>
bool PointNeuronKernel<T, Model>::differentiable() const {
  return kDifferentiable<Model<T>>;
}

template <typename T, template <typename> class Model>
std::vector<VecRef> PointNeuronKernel<T, Model>::saved() const {
  std::vector<VecRef> refs = j_;
  for (size_t k = 0; k < kStates; ++k)
    refs.insert(refs.end(), state_[k].begin(), state_[k].end());
  return refs;
}

template <typename T, template <typename> class Model>
void PointNeuronKernel<T, Model>::backward(const Context<T>& ctx, T* grad) {
  using M = Model<T>;
  if constexpr (!kDifferentiable<M>) {
    Kernel<T>::backward(ctx, grad);
  } else {
    const int64_t minibatch_size = ctx.minibatch_size;
    const int64_t units = static_cast<int64_t>(blocks_.size()) * minibatch_size;
    // Every neuron's adjoints are its own elements (checked disjoint at construction for
    // nengo's layouts), so neurons split over threads like forward().
    parallel_for(units, work_ >= kParallelThreshold, [&](int64_t w) {
      const NeuronBlock& blk = blocks_[w / minibatch_size];
      const int64_t b = w % minibatch_size;
      const size_t i = static_cast<size_t>(blk.item);
      const VecRef &j = j_[i], &o = out_[i];
      const int64_t oj = j.off + b * j.bstride, oo = o.off + b * o.bstride;
      const M& m = model_[i];
      for (int64_t e = blk.begin; e < blk.end; ++e) {
        const T jv = ctx.data[oj + e * j.stride];
        T& g_out = grad[oo + e * o.stride];
        T& g_j = grad[oj + e * j.stride];
        if constexpr (HasBackward<M>::value) {
          static_assert(kStates == 1, "reverse steps are written for one state");
          const VecRef& r = state_[0][i];
          const int64_t on = r.off + b * r.bstride + e * r.stride;
          m.backward(jv, ctx.data[on], g_j, g_out, grad[on]);
        } else {
          g_j += m.derivative(jv) * g_out;
          g_out = T(0);
        }
      }
    });
  }
}

namespace {

template <template <typename> class Model>
struct PointNeurons {
  template <typename T>
  using Kernel = PointNeuronKernel<T, Model>;
};

}  // namespace

// A neuron type is a model struct above and one line here.
#define REGISTER_POINT_NEURON(kind, Model) \
  REGISTER_KERNEL(kind, PointNeurons<Model>::template Kernel, point_neuron_schema<Model>())

REGISTER_POINT_NEURON("neurons_lif", Lif);
REGISTER_POINT_NEURON("neurons_lif_rate", LifRate);
REGISTER_POINT_NEURON("neurons_adaptive_lif", AdaptiveLif);
REGISTER_POINT_NEURON("neurons_adaptive_lif_rate", AdaptiveLifRate);
REGISTER_POINT_NEURON("neurons_rectified_linear", RectifiedLinear);
REGISTER_POINT_NEURON("neurons_spiking_rectified_linear", SpikingRectifiedLinear);
REGISTER_POINT_NEURON("neurons_sigmoid", Sigmoid);
REGISTER_POINT_NEURON("neurons_tanh", Tanh);
REGISTER_POINT_NEURON("neurons_izhikevich", Izhikevich);
REGISTER_POINT_NEURON("neurons_regular_spiking", RegularSpiking);
// Training counterparts only (no nengo type of their own).
REGISTER_POINT_NEURON("neurons_lif_rate_smoothed", SmoothedLifRate);
REGISTER_POINT_NEURON("neurons_linear", Linear);

}  // namespace nengo_native
