#include "neurons_fast.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../core/parallel.h"
#include "../core/vmath.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

namespace nengo_native {
namespace {

// Neurons are updated in chunks of this many (a multiple of every vector width), so that
// strided signals and follow-up lists fit in stack scratch.
constexpr int64_t kChunk = 256;
// Work is cut into blocks of this many neurons so that one big ensemble still spreads over
// threads; a neuron's arithmetic does not depend on the block it falls in.
constexpr int64_t kBlockNeurons = 2048;
// A vectorized neuron costs a fraction of the exact kernels' (kNeuronWork): fewer, bigger
// parallel regions pay.
constexpr int64_t kFastNeuronWork = 4;

using vmath::load;
using vmath::load_part;
using vmath::splat;
using vmath::store;
using vmath::store_part;

// Appends e + lane for the set lanes of `m`: one iteration per set lane (they are few:
// spikes and neurons leaving their refractory period).
template <typename T>
NENGO_NATIVE_INLINE void append_lanes(vmath::M<T> m, int32_t e, int32_t* list, int64_t& count) {
  for (unsigned bits = vmath::mask_bits<T>(m); bits != 0; bits &= bits - 1)
    list[count++] = e + __builtin_ctz(bits);
}

// vmath::select with the lane type deduced from the vectors.
template <typename V, typename M>
NENGO_NATIVE_INLINE V sel(M m, V a, V b) {
  M ai, bi;
  std::memcpy(&ai, &a, sizeof a);
  std::memcpy(&bi, &b, sizeof b);
  const M r = (m & ai) | (~m & bi);
  V out;
  std::memcpy(&out, &r, sizeof out);
  return out;
}

template <typename T>
NENGO_NATIVE_INLINE vmath::V<T> gather(const T* p, const int32_t* idx, int64_t m, T fill) {
  vmath::V<T> v = splat(fill);
  for (int64_t i = 0; i < m; ++i) v[i] = p[idx[i]];
  return v;
}

template <typename T>
NENGO_NATIVE_INLINE void scatter(T* p, const int32_t* idx, int64_t m, vmath::V<T> v) {
  for (int64_t i = 0; i < m; ++i) p[idx[i]] = v[i];
}

// Terms of expm1(x) = x (1 + x/2 + x^2/6 + ...) the branch-free LIF update sums: enough
// for double's precision over |x| <= 1 (a decay over at most one time constant per step).
constexpr int kMaxExpm1Terms = 20;
// Terms of 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...) for |s| <= kAtanhSeriesBound.
constexpr int kMaxAtanhTerms = 12;
constexpr double kAtanhSeriesBound = 0.172;

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__ELF__)
#define NENGO_NATIVE_LIF_AVX512 1
#else
#define NENGO_NATIVE_LIF_AVX512 0
#endif

template <typename T>
struct LifFastCore;
#if NENGO_NATIVE_LIF_AVX512
void block_avx512(const LifFastCore<float>& c, int64_t n, const float* j, float* out, float* v,
                  float* rt);
#endif

// nengo's LIF update with vector transcendentals, two ways. Where a step is at most one
// time constant (dt <= tau_rc), every neuron runs the same branch-free lanes (block_lanes,
// or block_avx512 for float on an AVX-512 CPU): the decay factor is a short polynomial
// and the spike time a short series, both to T's precision. Otherwise the common case (a
// neuron outside its refractory period, or inside it for the whole step) needs no
// transcendental: one vector pass does it and lists the neurons whose refractory period
// ends inside the step (their decay needs expm1) and those that spike (their spike time
// needs log), which are then processed W at a time in vector lanes too (block_lists).
template <typename T>
struct LifFastCore {
  T dt, tau_rc, neg_inv_tau_rc, tau_ref, min_voltage, spike, decay;
  // The branch-free update's series (expm1_terms is 0 where it does not apply).
  int expm1_terms = 0;
  T expm1_coef[kMaxExpm1Terms] = {};
  // The spike time's tau_rc 2 atanh(s) series, for |s| <= atanh_bound.
  int atanh_terms = 0;
  T atanh_coef[kMaxAtanhTerms] = {};
  T atanh_bound = 0;
  bool avx512 = false;
  LifFastCore(double dt_, double tau_rc_, double tau_ref_, double min_voltage_, double amplitude)
      : dt(T(dt_)),
        tau_rc(T(tau_rc_)),
        neg_inv_tau_rc(T(-1.0 / tau_rc_)),
        tau_ref(T(tau_ref_)),
        min_voltage(T(min_voltage_)),
        spike(T(amplitude / dt_)),
        decay(T(std::expm1(-dt_ / tau_rc_))) {
    const double x = dt_ / tau_rc_;
    if (!(x <= 1.0)) return;
    // Terms of each series until the next is below half an ulp (relative) at the largest
    // argument: every term costs a multiply-add for every neuron.
    constexpr double kHalfUlp = std::numeric_limits<T>::epsilon() / 2;
    // expm1(-d / tau_rc) = d q(d), q's coefficients (-1 / tau_rc)^(k + 1) / (k + 1)!
    // (the scaling of d is in them, one multiply fewer per neuron).
    double factorial = 1.0, power = 1.0, scale = 1.0;
    for (int k = 0; k < kMaxExpm1Terms; ++k) {
      factorial *= k + 1;
      scale *= -1.0 / tau_rc_;
      expm1_coef[k] = static_cast<T>(scale / factorial);
      expm1_terms = k + 1;
      power *= x;
      if (power / (factorial * (k + 2)) < kHalfUlp) break;
    }
    // A neuron that starts the step at or below threshold (v0 <= 1) ends it at most
    // a = 1 - exp(-dt / tau_rc) of the way from v0 to j, so its spike has
    // s <= a / (2 - a) (0.025 at dt / tau_rc = 0.05); a bit of room for rounding.
    const double a = -std::expm1(-x);
    const double bound = std::min(1.01 * a / (2.0 - a), kAtanhSeriesBound);
    const double z = bound * bound;
    power = 1.0;
    // tau_rc 2 atanh(s) = s a(s^2), a's coefficients tau_rc 2 / (2k + 1)
    for (int k = 0; k < kMaxAtanhTerms; ++k) {
      atanh_coef[k] = static_cast<T>(tau_rc_ * 2.0 / (2 * k + 1));
      atanh_terms = k + 1;
      power *= z;
      if (power / (2 * k + 3) < kHalfUlp) break;
    }
    atanh_bound = static_cast<T>(bound);
#if NENGO_NATIVE_LIF_AVX512
    avx512 = std::is_same_v<T, float> && vmath::cpu_isa() == vmath::Isa::kAvx512;
#endif
  }

  // The spike time's refractory period: tau_ref + dt + tau_rc log1p(-(v - 1) / (j - 1)),
  // with 1 + that argument formed as one quotient.
  NENGO_NATIVE_INLINE vmath::V<T> refractory(vmath::V<T> j, vmath::V<T> v) const {
    return (tau_ref + dt) + tau_rc * vmath::log<T>((j - v) / (j - T(1)));
  }

  template <vmath::Isa I>
  NENGO_NATIVE_INLINE void block(vmath::IsaTag<I> isa, int64_t n, const T* __restrict j,
                                 T* __restrict out, T* __restrict v, T* __restrict rt) const {
    if (expm1_terms == 0) return block_lists(n, j, out, v, rt);
#if NENGO_NATIVE_LIF_AVX512
    if constexpr (std::is_same_v<T, float>)
      if (avx512) return block_avx512(*this, n, j, out, v, rt);
#endif
    // The spike time's series holds for every neuron that starts the step at or below
    // threshold; a chunk with a voltage above it (set from outside) checks every vector.
    // The series' lengths at the default tau_rc and dt = 1 ms have their own loop (4 and 3
    // terms in float, 8 and 5 in double); other lengths are counted at run time.
    const bool within = within_threshold(n, v);
    constexpr int kExpm1 = std::is_same_v<T, float> ? 4 : 8;
    constexpr int kAtanh = std::is_same_v<T, float> ? 3 : 5;
    if (within && expm1_terms <= kExpm1 && atanh_terms <= kAtanh)
      return block_lanes<kExpm1, kAtanh>(isa, n, j, out, v, rt, false);
    block_lanes<0, 0>(isa, n, j, out, v, rt, !within);
  }

  // Whether no voltage in v[0, n) exceeds 1 (NaN counts as within: it cannot spike).
  NENGO_NATIVE_INLINE static bool within_threshold(int64_t n, const T* v) {
    constexpr int64_t W = vmath::kWidth<T>;
    vmath::M<T> above{};
    int64_t e = 0;
    for (; e + W <= n; e += W) above |= load(v + e) > T(1);
    for (; e < n; ++e)
      if (v[e] > T(1)) return false;
    return !vmath::any<T>(above);
  }

  // Every neuron in the same lanes, W at a time (see block_avx512, its 16-lane twin), with
  // NE and NA terms in the series (0: expm1_terms and atanh_terms). Fixed lengths keep the
  // coefficients in registers and the Horner chains free of loop counters; the terms past
  // expm1_terms and atanh_terms are zero and leave the sums unchanged. Unless
  // `guarded`, no voltage starts above threshold, so every spike time is in the series'
  // range.
  template <int NE, int NA, vmath::Isa I>
  NENGO_NATIVE_INLINE void block_lanes(vmath::IsaTag<I> isa, int64_t n, const T* __restrict j,
                                       T* __restrict out, T* __restrict v, T* __restrict rt,
                                       bool guarded) const {
    using V = vmath::V<T>;
    using M = vmath::M<T>;
    constexpr int64_t W = vmath::kWidth<T>;
    const auto sel = [isa](M m, V a, V b) { return vmath::pick<T>(isa, m, a, b); };
    // Locals, not members: the stores through out, v and rt might alias this object, whose
    // members would then be reloaded for every vector.
    const int ne = NE > 0 ? NE : expm1_terms, na = NA > 0 ? NA : atanh_terms;
    V expm1_c[NE > 0 ? NE : kMaxExpm1Terms], atanh_c[NA > 0 ? NA : kMaxAtanhTerms];
    for (int k = 0; k < ne; ++k) expm1_c[k] = splat(k < expm1_terms ? expm1_coef[k] : T(0));
    for (int k = 0; k < na; ++k) atanh_c[k] = splat(k < atanh_terms ? atanh_coef[k] : T(0));
    const V vdt = splat(dt), vzero = splat(T(0)), vone = splat(T(1)), vspike = splat(spike);
    const V vmin = splat(min_voltage), bound = splat(atanh_bound), vtau_rc = splat(tau_rc);
    const V tau_ref_dt = splat(tau_ref + dt);
    const auto update = [&](const T* pj, T* po, T* pv, T* pr) {
      const V r = load(pr) - vdt;
      V d = vdt - r;
      d = sel(d < vzero, vzero, d);
      d = sel(d > vdt, vdt, d);
      V q = expm1_c[ne - 1];
      for (int k = ne - 2; k >= 0; --k) q = q * d + expm1_c[k];
      const V jv = load(pj), v0 = load(pv);
      const V v1 = v0 - (jv - v0) * (d * q);
      const M s = v1 > T(1);
      store(po, sel(s, vspike, vzero));
      // As in block_avx512, the spike time is computed for every vector: a branch on
      // whether one lane spiked would be mispredicted about half the time.
      const V sv = (T(1) - v1) / ((T(2) * jv - T(1)) - v1);
      V spike_r;
      if (!guarded || !vmath::any<T>(s & (sel(sv < vzero, -sv, sv) > bound))) {
        const V z = sv * sv;
        V a = atanh_c[na - 1];
        for (int k = na - 2; k >= 0; --k) a = a * z + atanh_c[k];
        spike_r = sv * a + tau_ref_dt;
      } else {  // a spike far from threshold
        const V ratio = sel(s, (jv - v1) / sel(s, jv - T(1), vone), vone);
        spike_r = tau_ref_dt + vtau_rc * vmath::log<T>(ratio);
      }
      store(pr, sel(s, spike_r, r));
      store(pv, sel(s, vzero, sel(v1 < vmin, vmin, v1)));
    };
    int64_t e = 0;
    for (; e + W <= n; e += W) update(j + e, out + e, v + e, rt + e);
    if (e == n) return;
    // The last few neurons through zero-padded copies (zeros neither spike nor fail).
    const int64_t m = n - e;
    T tj[W] = {}, to[W], tv[W] = {}, tr[W] = {};
    std::copy_n(j + e, m, tj);
    std::copy_n(v + e, m, tv);
    std::copy_n(rt + e, m, tr);
    update(tj, to, tv, tr);
    std::copy_n(to, m, out + e);
    std::copy_n(tv, m, v + e);
    std::copy_n(tr, m, rt + e);
  }

  NENGO_NATIVE_INLINE void block_lists(int64_t n, const T* __restrict j, T* __restrict out,
                                       T* __restrict v, T* __restrict rt) const {
    using V = vmath::V<T>;
    using M = vmath::M<T>;
    constexpr int64_t W = vmath::kWidth<T>;
    const V vdt = splat(dt), vzero = splat(T(0));
    int32_t partial[kChunk + W], spiked[kChunk + W];
    int64_t n_partial = 0, n_spiked = 0;
    for (int64_t e = 0; e < n; e += W) {
      const int64_t m = std::min(W, n - e);
      const V r = load_part(rt + e, m, T(0)) - dt;
      store_part(rt + e, r, m);
      const V d = vdt - r;
      const M full = d >= vdt, none = d <= vzero;
      const M part = ~(full | none);
      const V v0 = load_part(v + e, m, T(0));
      const V v1 = v0 - (load_part(j + e, m, T(0)) - v0) * sel(full, splat(decay), vzero);
      const M s = (v1 > T(1)) & ~part;
      store_part(out + e, sel(s, splat(spike), vzero), m);
      const V clipped = sel(v1 < min_voltage, splat(min_voltage), v1);
      store_part(v + e, sel(part, v0, sel(s, v1, clipped)), m);
      append_lanes<T>(part, static_cast<int32_t>(e), partial, n_partial);
      append_lanes<T>(s, static_cast<int32_t>(e), spiked, n_spiked);
    }
    // Leaving the refractory period inside the step: a partial decay, maybe a spike.
    for (int64_t k = 0; k < n_partial; k += W) {
      const int64_t m = std::min(W, n_partial - k);
      const int32_t* idx = partial + k;
      const V jv = gather(j, idx, m, T(0)), v0 = gather(v, idx, m, T(0));
      const V r = gather(rt, idx, m, T(0));
      V d = vdt - r;
      d = sel(d < vzero, vzero, d);
      d = sel(d > vdt, vdt, d);
      const V v1 = v0 - (jv - v0) * vmath::expm1<T>(d * neg_inv_tau_rc);
      const M s = v1 > T(1);
      scatter(out, idx, m, sel(s, splat(spike), vzero));
      const V clipped = sel(v1 < min_voltage, splat(min_voltage), v1);
      if (vmath::any<T>(s)) {
        scatter(rt, idx, m, sel(s, refractory(jv, v1), r));
        scatter(v, idx, m, sel(s, vzero, clipped));
      } else {
        scatter(v, idx, m, clipped);
      }
    }
    // Spikes: their time inside the step starts the refractory period.
    for (int64_t k = 0; k < n_spiked; k += W) {
      const int64_t m = std::min(W, n_spiked - k);
      const int32_t* idx = spiked + k;
      // Padding lanes get a harmless quotient (never stored).
      const V jv = gather(j, idx, m, T(3)), v1 = gather(v, idx, m, T(2));
      scatter(rt, idx, m, refractory(jv, v1));
      scatter(v, idx, m, vzero);
    }
  }
};

#if NENGO_NATIVE_LIF_AVX512
// 2 atanh(s) = log((1 + s) / (1 - s)) as its odd series, to float's precision for
// |s| < 0.172 (16 lanes).
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma"))) inline __m512 atanh2_avx512(
    __m512 s) {
  const __m512 z = _mm512_mul_ps(s, s);
  __m512 p = _mm512_set1_ps(2.0f / 9);
  for (float c : {2.0f / 7, 2.0f / 5, 2.0f / 3, 2.0f}) p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(c));
  return _mm512_mul_ps(s, p);
}

// log(q) for q > 0 (16 lanes): q = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s)
// for s = (m - 1) / (m + 1) (the rare path of block_avx512).
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma"))) inline __m512 log_avx512(
    __m512 q) {
  __m512 m = _mm512_getmant_ps(q, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  __m512 e = _mm512_getexp_ps(q);
  const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
  m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
  e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  return _mm512_fmadd_ps(e, _mm512_set1_ps(0.69314718f), atanh2_avx512(s));
}

// The LIF step of LifFastCore::block for float, 16 neurons per vector and no follow-up
// lists: the decay factor expm1(-clip(dt - r, 0, dt) / tau_rc) is a short polynomial for
// every lane (dt for most, 0 inside the refractory period, a part for neurons leaving
// it), and a vector with a spike computes log((j - v) / (j - 1)) = 2 atanh(s) with
// s = (1 - v) / (2j - 1 - v), small for any spike that started below threshold: its
// series is only as long as that bound needs (three terms at dt / tau_rc = 0.05; the
// kernel is bound by multiply-adds, so each term saved is about 5% of its time).
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma"), noinline)) void block_avx512(
    const LifFastCore<float>& c, int64_t n, const float* j, float* out, float* v, float* rt) {
  const __m512 vdt = _mm512_set1_ps(c.dt), zero = _mm512_setzero_ps();
  const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
  const __m512 spike = _mm512_set1_ps(c.spike), min_voltage = _mm512_set1_ps(c.min_voltage);
  const __m512 tau_rc = _mm512_set1_ps(c.tau_rc), tau_ref_dt = _mm512_set1_ps(c.tau_ref + c.dt);
  const __m512 series_bound = _mm512_set1_ps(c.atanh_bound);
  for (int64_t e = 0; e < n; e += 16) {
    const __mmask16 m = n - e >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - e)) - 1);
    const __m512 r = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, rt + e), vdt);
    const __m512 d = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(vdt, r), zero), vdt);
    __m512 q = _mm512_set1_ps(c.expm1_coef[c.expm1_terms - 1]);
    for (int k = c.expm1_terms - 2; k >= 0; --k)
      q = _mm512_fmadd_ps(q, d, _mm512_set1_ps(c.expm1_coef[k]));
    const __m512 factor = _mm512_mul_ps(d, q);
    const __m512 jv = _mm512_maskz_loadu_ps(m, j + e), v0 = _mm512_maskz_loadu_ps(m, v + e);
    const __m512 v1 = _mm512_fnmadd_ps(_mm512_sub_ps(jv, v0), factor, v0);
    const __mmask16 s = _mm512_mask_cmp_ps_mask(m, v1, one, _CMP_GT_OQ);
    _mm512_mask_storeu_ps(out + e, m, _mm512_maskz_mov_ps(s, spike));
    // The spike path runs for every vector, whether or not one of its lanes spiked:
    // about half of them do, in no pattern a branch predictor could follow, and a
    // mispredicted branch cost more than the path.
    const __m512 den = _mm512_sub_ps(_mm512_fmsub_ps(two, jv, one), v1);
    __m512 inv = _mm512_rcp14_ps(den);
    inv = _mm512_mul_ps(inv, _mm512_fnmadd_ps(den, inv, two));  // one Newton step
    const __m512 sv = _mm512_mul_ps(_mm512_sub_ps(one, v1), inv);
    __m512 spike_r;  // tau_ref + dt + tau_rc log((j - v) / (j - 1))
    if (_mm512_mask_cmp_ps_mask(s, _mm512_abs_ps(sv), series_bound, _CMP_GT_OQ) == 0) {
      const __m512 z = _mm512_mul_ps(sv, sv);
      __m512 a = _mm512_set1_ps(c.atanh_coef[c.atanh_terms - 1]);
      for (int k = c.atanh_terms - 2; k >= 0; --k)
        a = _mm512_fmadd_ps(a, z, _mm512_set1_ps(c.atanh_coef[k]));
      spike_r = _mm512_fmadd_ps(sv, a, tau_ref_dt);
    } else {  // a spike far from threshold (a voltage set above 1 from outside)
      const __m512 jm = _mm512_mask_blend_ps(s, one, _mm512_sub_ps(jv, one));
      const __m512 ratio = _mm512_mask_blend_ps(s, one, _mm512_div_ps(_mm512_sub_ps(jv, v1), jm));
      spike_r = _mm512_fmadd_ps(tau_rc, log_avx512(ratio), tau_ref_dt);
    }
    const __m512 r_new = _mm512_mask_mov_ps(r, s, spike_r);
    // max returns its second operand where either is NaN: a NaN voltage stays NaN.
    const __m512 v_new = _mm512_mask_mov_ps(_mm512_max_ps(min_voltage, v1), s, zero);
    _mm512_mask_storeu_ps(v + e, m, v_new);
    _mm512_mask_storeu_ps(rt + e, m, r_new);
  }
}
#endif

// LIFRate's rate amplitude / (tau_ref + tau_rc log1p(1 / (j - 1))) and its slope; the
// log's argument 1 + 1 / (j - 1) is formed as the quotient j / (j - 1).
template <typename T>
struct LifRateFastCore {
  T tau_rc, tau_ref, amplitude;
  LifRateFastCore(double tau_rc_, double tau_ref_, double amplitude_)
      : tau_rc(T(tau_rc_)), tau_ref(T(tau_ref_)), amplitude(T(amplitude_)) {}

  NENGO_NATIVE_INLINE vmath::V<T> rate(vmath::V<T> j) const {
    const vmath::V<T> jm = j - T(1);
    const vmath::M<T> above = jm > T(0);
    const vmath::V<T> q = sel(above, j / jm, splat(T(2)));
    const vmath::V<T> r = amplitude / (tau_ref + tau_rc * vmath::log<T>(q));
    return sel(above, r, splat(T(0)));
  }

  // d(rate)/dJ at j - 1 = jm (0 where jm <= 0, where the rate is flat).
  NENGO_NATIVE_INLINE vmath::V<T> slope(vmath::V<T> jm) const {
    const vmath::M<T> above = jm > T(0);
    const vmath::V<T> safe = sel(above, jm, splat(T(1)));
    const vmath::V<T> denom = tau_ref + tau_rc * vmath::log<T>((safe + T(1)) / safe);
    const vmath::V<T> d = (amplitude * tau_rc) / (denom * denom * safe * (safe + T(1)));
    return sel(above, d, splat(T(0)));
  }
};

// The models: the exact kernels' parameter and state names (the planner passes the same
// arrays), a vector `block` over unit-stride neurons, and for rate types `slope_lanes`.
template <typename T>
struct LifFast {
  static constexpr std::array<const char*, 2> kStateNames{{"voltage", "refractory_time"}};
  static constexpr std::array<const char*, 4> kParamNames{
      {"tau_rc", "tau_ref", "min_voltage", "amplitude"}};
  LifFastCore<T> core;
  LifFast(const std::array<double, 4>& p, double dt) : core(dt, p[0], p[1], p[2], p[3]) {}
  template <vmath::Isa I>
  NENGO_NATIVE_INLINE void block(vmath::IsaTag<I> isa, int64_t n, const T* j, T* out, T* v,
                                 T* rt) const {
    core.block(isa, n, j, out, v, rt);
  }
};

template <typename T>
struct AdaptiveLifFast {
  static constexpr std::array<const char*, 3> kStateNames{
      {"voltage", "refractory_time", "adaptation"}};
  static constexpr std::array<const char*, 6> kParamNames{
      {"tau_rc", "tau_ref", "min_voltage", "amplitude", "tau_n", "inc_n"}};
  LifFastCore<T> core;
  T rate, inc_n;
  AdaptiveLifFast(const std::array<double, 6>& p, double dt)
      : core(dt, p[0], p[1], p[2], p[3]), rate(T(dt / p[4])), inc_n(T(p[5])) {}
  template <vmath::Isa I>
  NENGO_NATIVE_INLINE void block(vmath::IsaTag<I> isa, int64_t n, const T* __restrict j,
                                 T* __restrict out, T* v, T* rt, T* __restrict a) const {
    T j_in[kChunk];
    for (int64_t e = 0; e < n; ++e) j_in[e] = j[e] - a[e];
    core.block(isa, n, j_in, out, v, rt);
    for (int64_t e = 0; e < n; ++e) a[e] = a[e] + rate * (inc_n * out[e] - a[e]);
  }
};

// Rate types: `lanes` maps W inputs to W outputs, `slope_lanes` gives d(out)/dJ.
template <typename T>
struct LifRateFast {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 3> kParamNames{{"tau_rc", "tau_ref", "amplitude"}};
  LifRateFastCore<T> core;
  LifRateFast(const std::array<double, 3>& p, double) : core(p[0], p[1], p[2]) {}
  NENGO_NATIVE_INLINE vmath::V<T> lanes(vmath::V<T> j) const { return core.rate(j); }
  NENGO_NATIVE_INLINE vmath::V<T> slope_lanes(vmath::V<T> j) const {
    return core.slope(j - T(1));
  }
};

// The smoothed LIF rate's gradient (see SmoothedLifRate in neurons.cpp).
template <typename T>
struct SmoothedLifRateFast {
  static constexpr std::array<const char*, 0> kStateNames{};
  static constexpr std::array<const char*, 4> kParamNames{
      {"tau_rc", "tau_ref", "amplitude", "sigma"}};
  LifRateFastCore<T> core;
  T sigma;
  SmoothedLifRateFast(const std::array<double, 4>& p, double)
      : core(p[0], p[1], p[2]), sigma(T(p[3])) {}
  NENGO_NATIVE_INLINE vmath::V<T> lanes(vmath::V<T> j) const { return core.rate(j); }
  NENGO_NATIVE_INLINE vmath::V<T> slope_lanes(vmath::V<T> j) const {
    const vmath::V<T> z = (j - T(1)) / sigma;
    const vmath::V<T> soft = sel(z > T(30), j - T(1), sigma * vmath::log1p<T>(vmath::exp<T>(z)));
    const vmath::V<T> logistic = T(1) / (T(1) + vmath::exp<T>(-z));
    return core.slope(soft) * logistic;
  }
};

template <typename M, typename = void>
struct HasLanes : std::false_type {};
template <typename M>
struct HasLanes<M, std::void_t<decltype(&M::slope_lanes)>> : std::true_type {};

// n <= kChunk neurons at unit stride.
template <typename Model, typename Isa, typename T, size_t... I>
NENGO_NATIVE_INLINE void forward_unit(const Model& m, Isa isa, int64_t n, const T* j, T* out,
                                      const std::array<T*, sizeof...(I)>& s,
                                      std::index_sequence<I...>) {
  if constexpr (HasLanes<Model>::value) {
    constexpr int64_t W = vmath::kWidth<T>;
    int64_t e = 0;
    for (; e + W <= n; e += W) store(out + e, m.lanes(load(j + e)));
    if (e == n) return;
    // The last few neurons: a whole vector ending at n, overlapping neurons already
    // done (their rates come out the same), is cheaper than a lane-by-lane partial
    // load and store; only segments shorter than a vector need those.
    if (n >= W)
      store(out + n - W, m.lanes(load(j + n - W)));
    else
      store_part(out, m.lanes(load_part(j, n, T(0))), n);
  } else {
    m.block(isa, n, j, out, s[I]...);
  }
}

template <typename Model, typename T>
NENGO_NATIVE_INLINE void backward_unit(const Model& m, int64_t n, const T* j, T* g_j, T* g_out) {
  constexpr int64_t W = vmath::kWidth<T>;
  int64_t e = 0;
  for (; e + W <= n; e += W) {
    store(g_j + e, load(g_j + e) + m.slope_lanes(load(j + e)) * load(g_out + e));
    store(g_out + e, splat(T(0)));
  }
  if (e == n) return;
  if (n < W) {
    const vmath::V<T> go = load_part(g_out, n, T(0));
    store_part(g_j, load_part(g_j, n, T(0)) + m.slope_lanes(load_part(j, n, T(0))) * go, n);
    store_part(g_out, splat(T(0)), n);
    return;
  }
  // As in forward_unit, a whole vector ending at n; the lanes of neurons already done
  // add nothing (their g_out is zero by now, and the product is masked off so that an
  // infinite slope there cannot make a NaN).
  const int64_t t = n - W;
  using Lane = std::remove_reference_t<decltype(std::declval<vmath::M<T>&>()[0])>;
  vmath::M<T> lane{};
  for (int64_t k = 0; k < W; ++k) lane[k] = Lane(k);
  const vmath::M<T> fresh = lane >= Lane(e - t);
  const vmath::V<T> add = m.slope_lanes(load(j + t)) * load(g_out + t);
  store(g_j + t, load(g_j + t) + sel(fresh, add, splat(T(0))));
  store(g_out + t, splat(T(0)));
}

}  // namespace

template <typename T, template <typename> class Model>
FastNeuronKernel<T, Model>::FastNeuronKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("J_off").size();
  const int64_t minibatch_size = s.minibatch_size;
  j_ = read_vec_refs(p, "J", n, s.arena_size, minibatch_size);
  out_ = read_vec_refs(p, "output", n, s.arena_size, minibatch_size);
  for (size_t k = 0; k < kStates; ++k)
    state_[k] = read_vec_refs(p, Model<T>::kStateNames[k], n, s.arena_size, minibatch_size);
  constexpr size_t kParams = Model<T>::kParamNames.size();
  std::array<const std::vector<double>*, kParams> columns{};
  for (size_t k = 0; k < kParams; ++k) columns[k] = &p.real_array(Model<T>::kParamNames[k], n);
  read_chain_ptr(p, n);  // validated for the Program's sake; elementwise work needs no chains
  model_.reserve(n);
  std::vector<std::array<double, kParams>> values(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t size = out_[i].n;
    if (j_[i].n != size) throw std::invalid_argument("neurons: J and output sizes differ");
    for (size_t k = 0; k < kStates; ++k)
      if (state_[k][i].n != size)
        throw std::invalid_argument(std::string("neurons: state '") +
                                    Model<T>::kStateNames[k] + "' size differs from output");
    for (size_t k = 0; k < kParams; ++k) values[i][k] = (*columns[k])[i];
    model_.emplace_back(values[i], s.dt);
    work_ += size * minibatch_size * kFastNeuronWork;
  }
  // Each neuron's update is its own, so neurons may be grouped in any way: ensembles of a
  // few dozen neurons, item by item, would leave the vector loop after a few iterations.
  // Items whose whole minibatch is one unit-stride block in every signal, and that follow
  // each other in memory with the same constants, form one run.
  const auto each_signal = [&](auto&& test) {
    bool all = test(j_) && test(out_);
    for (size_t k = 0; k < kStates; ++k) all = all && test(state_[k]);
    return all;
  };
  const auto packed = [&](size_t i) {
    return each_signal([&](const std::vector<VecRef>& r) {
      return r[i].stride == 1 && (minibatch_size == 1 || r[i].bstride == r[i].n);
    });
  };
  const auto follows = [&](size_t i) {
    return values[i] == values[i - 1] && each_signal([&](const std::vector<VecRef>& r) {
             return r[i].off == r[i - 1].off + r[i - 1].n * minibatch_size;
           });
  };
  const auto split = [&](size_t item, int64_t b, int64_t size) {
    for (int64_t c = 0; c < size; c += kBlockNeurons)
      segments_.push_back({item, b, c, std::min(size, c + kBlockNeurons)});
  };
  for (size_t i = 0; i < n; ++i) packed_.push_back(packed(i));
  for (size_t i = 0; i < n;) {
    if (!packed_[i]) {
      for (int64_t b = 0; b < minibatch_size; ++b) split(i, b, out_[i].n);
      ++i;
      continue;
    }
    size_t end = i + 1;
    int64_t size = out_[i].n * minibatch_size;
    for (; end < n && packed_[end] && follows(end); ++end) size += out_[end].n * minibatch_size;
    split(i, kRun, size);
    i = end;
  }
}

template <typename T, template <typename> class Model>
void FastNeuronKernel<T, Model>::run_segment(const Context<T>& ctx, const Segment& seg) const {
  const size_t i = seg.item;
  const bool run = seg.b == kRun;
  const VecRef &j = j_[i], &o = out_[i];
  std::array<const VecRef*, kStates> refs{};
  bool unit = j.stride == 1 && o.stride == 1;
  for (size_t k = 0; k < kStates; ++k) {
    refs[k] = &state_[k][i];
    unit = unit && refs[k]->stride == 1;
  }
  const Model<T>& m = model_[i];
  for (int64_t c = seg.begin; c < seg.end; c += kChunk) {
    const int64_t n = std::min(kChunk, seg.end - c);
    const auto at = [&](const VecRef& r) {
      return ctx.data + r.off + (run ? c : seg.b * r.bstride + c * r.stride);
    };
    const T* pj = at(j);
    T* po = at(o);
    std::array<T*, kStates> ps{};
    for (size_t k = 0; k < kStates; ++k) ps[k] = at(*refs[k]);
    if (unit) {
      vmath::on_best_isa([&](auto isa) {
        forward_unit(m, isa, n, pj, po, ps, std::make_index_sequence<kStates>{});
      });
      continue;
    }
    // Strided signals (rare): through unit-stride scratch.
    T sj[kChunk], so[kChunk], ss[kStates + 1][kChunk];
    std::array<T*, kStates> pss{};
    for (int64_t e = 0; e < n; ++e) sj[e] = pj[e * j.stride];
    for (size_t k = 0; k < kStates; ++k) {
      pss[k] = ss[k];
      for (int64_t e = 0; e < n; ++e) ss[k][e] = ps[k][e * refs[k]->stride];
    }
    vmath::on_best_isa([&](auto isa) {
      forward_unit(m, isa, n, sj, so, pss, std::make_index_sequence<kStates>{});
    });
    for (int64_t e = 0; e < n; ++e) po[e * o.stride] = so[e];
    for (size_t k = 0; k < kStates; ++k)
      for (int64_t e = 0; e < n; ++e) ps[k][e * refs[k]->stride] = ss[k][e];
  }
}

template <typename T, template <typename> class Model>
void FastNeuronKernel<T, Model>::forward(const Context<T>& ctx) {
  if (ctx.all_items()) {
    parallel_for(static_cast<int64_t>(segments_.size()), work_ >= kParallelThreshold,
                 [&](int64_t w) { run_segment(ctx, segments_[w]); });
    return;
  }
  // A share of the minibatch: each item's part of it (runs span all items).
  for (size_t i = 0; i < model_.size(); ++i) {
    const int64_t size = out_[i].n;
    if (packed_[i]) {
      run_segment(ctx, {i, kRun, ctx.item_begin * size, ctx.item_end * size});
    } else {
      for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b) run_segment(ctx, {i, b, 0, size});
    }
  }
}

template <typename T, template <typename> class Model>
bool FastNeuronKernel<T, Model>::item_parallel() const {
  bool own = per_item(out_);
  for (size_t k = 0; k < kStates; ++k) own = own && per_item(state_[k]);
  return own;
}

template <typename T, template <typename> class Model>
bool FastNeuronKernel<T, Model>::differentiable() const {
  return HasLanes<Model<T>>::value;
}

template <typename T, template <typename> class Model>
std::vector<VecRef> FastNeuronKernel<T, Model>::saved() const {
  std::vector<VecRef> refs = j_;
  for (size_t k = 0; k < kStates; ++k) refs.insert(refs.end(), state_[k].begin(), state_[k].end());
  return refs;
}

template <typename T, template <typename> class Model>
void FastNeuronKernel<T, Model>::backward(const Context<T>& ctx, T* grad) {
  if constexpr (!HasLanes<Model<T>>::value) {
    Kernel<T>::backward(ctx, grad);
  } else {
    // Each neuron's adjoints are its own elements (the planner checks J and the output
    // are disjoint), so neurons split over threads like forward().
    parallel_for(static_cast<int64_t>(segments_.size()), work_ >= kParallelThreshold,
                 [&](int64_t w) {
      const Segment& seg = segments_[w];
      const bool run = seg.b == kRun;
      const VecRef &j = j_[seg.item], &o = out_[seg.item];
      const Model<T>& m = model_[seg.item];
      for (int64_t c = seg.begin; c < seg.end; c += kChunk) {
        const int64_t n = std::min(kChunk, seg.end - c);
        const int64_t oj = j.off + (run ? c : seg.b * j.bstride + c * j.stride);
        const int64_t oo = o.off + (run ? c : seg.b * o.bstride + c * o.stride);
        if (j.stride == 1 && o.stride == 1) {
          vmath::on_best_isa(
              [&](auto) { backward_unit(m, n, ctx.data + oj, grad + oj, grad + oo); });
          continue;
        }
        T sj[kChunk], sgj[kChunk], sgo[kChunk];
        for (int64_t e = 0; e < n; ++e) {
          sj[e] = ctx.data[oj + e * j.stride];
          sgj[e] = grad[oj + e * j.stride];
          sgo[e] = grad[oo + e * o.stride];
        }
        vmath::on_best_isa([&](auto) { backward_unit(m, n, sj, sgj, sgo); });
        for (int64_t e = 0; e < n; ++e) {
          grad[oj + e * j.stride] = sgj[e];
          grad[oo + e * o.stride] = sgo[e];
        }
      }
    });
  }
}

template <typename T>
using LifFastKernel = FastNeuronKernel<T, LifFast>;
template <typename T>
using AdaptiveLifFastKernel = FastNeuronKernel<T, AdaptiveLifFast>;
template <typename T>
using LifRateFastKernel = FastNeuronKernel<T, LifRateFast>;
template <typename T>
using SmoothedLifRateFastKernel = FastNeuronKernel<T, SmoothedLifRateFast>;

REGISTER_KERNEL("neurons_lif_fast", LifFastKernel, point_neuron_schema<LifFast>());
REGISTER_KERNEL("neurons_adaptive_lif_fast", AdaptiveLifFastKernel,
                point_neuron_schema<AdaptiveLifFast>());
REGISTER_KERNEL("neurons_lif_rate_fast", LifRateFastKernel, point_neuron_schema<LifRateFast>());
REGISTER_KERNEL("neurons_lif_rate_smoothed_fast", SmoothedLifRateFastKernel,
                point_neuron_schema<SmoothedLifRateFast>());

}  // namespace nengo_native
