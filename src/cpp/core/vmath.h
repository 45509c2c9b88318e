// Vector transcendental functions for the throughput mode (exact=False): exp, expm1 and
// log over whole SIMD vectors, a few ULP from the correctly rounded result. The exact
// mode never uses them: it calls libm so that results match numpy bit for bit.
//
// The vectors are 32 bytes (8 floats, 4 doubles) of GCC vector extensions; every
// function is always inlined so that each target of `on_best_isa` compiles them for its
// own instruction set. (64-byte vectors made GCC 12 split comparisons into one branch
// per lane.)
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "simd.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nengo_native {
namespace vmath {

template <typename T>
struct Types;
template <>
struct Types<double> {
  typedef double V __attribute__((vector_size(32)));
  typedef int64_t M __attribute__((vector_size(32)));
  static constexpr int kMantissa = 52;
  static constexpr int64_t kBias = 1023;
  static constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52: rounds to integers
  static constexpr double kExpHi = 709.0, kExpLo = -708.0;
};
template <>
struct Types<float> {
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t M __attribute__((vector_size(32)));
  static constexpr int kMantissa = 23;
  static constexpr int32_t kBias = 127;
  static constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  static constexpr float kExpHi = 88.0f, kExpLo = -87.0f;
};

template <typename T>
using V = typename Types<T>::V;
template <typename T>
using M = typename Types<T>::M;
template <typename T>
constexpr int64_t kWidth = 32 / sizeof(T);

template <typename T>
NENGO_NATIVE_INLINE V<T> splat(T x) {
  return V<T>{} + x;
}

template <typename T>
NENGO_NATIVE_INLINE V<T> load(const T* p) {
  V<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
NENGO_NATIVE_INLINE void store(T* p, V<T> v) {
  std::memcpy(p, &v, sizeof v);
}

// The first n <= kWidth lanes from p, the rest `fill`.
template <typename T>
NENGO_NATIVE_INLINE V<T> load_part(const T* p, int64_t n, T fill) {
  if (n == kWidth<T>) return load(p);
  V<T> v = splat(fill);
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}

template <typename T>
NENGO_NATIVE_INLINE void store_part(T* p, V<T> v, int64_t n) {
  if (n == kWidth<T>) return store(p, v);
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}

template <typename T>
NENGO_NATIVE_INLINE M<T> bits(V<T> v) {
  M<T> m;
  std::memcpy(&m, &v, sizeof m);
  return m;
}

template <typename T>
NENGO_NATIVE_INLINE V<T> from_bits(M<T> m) {
  V<T> v;
  std::memcpy(&v, &m, sizeof v);
  return v;
}

// Lanes of a where the mask is set, else of b, as bitwise operations: GCC turns the
// vector `?:` into a branch per lane when masks are combined on some targets.
template <typename T>
NENGO_NATIVE_INLINE V<T> select(M<T> m, V<T> a, V<T> b) {
  return from_bits<T>((m & bits<T>(a)) | (~m & bits<T>(b)));
}

// Bit i set where lane i of the mask is set: the lanes' sign bits, gathered by SSE2's
// movemask on each 16-byte half (part of every x86-64 baseline; a lane loop elsewhere).
template <typename T>
NENGO_NATIVE_INLINE unsigned mask_bits(M<T> m) {
#if defined(__SSE2__)
  __m128i half[2];
  std::memcpy(half, &m, sizeof half);
  if constexpr (sizeof(T) == 4) {
    return static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(half[0]))) |
           static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(half[1]))) << 4;
  } else {
    return static_cast<unsigned>(_mm_movemask_pd(_mm_castsi128_pd(half[0]))) |
           static_cast<unsigned>(_mm_movemask_pd(_mm_castsi128_pd(half[1]))) << 2;
  }
#else
  unsigned bits = 0;
  for (int64_t i = 0; i < kWidth<T>; ++i) bits |= (m[i] != 0 ? 1u : 0u) << i;
  return bits;
#endif
}

// Whether any lane of the mask is set.
template <typename T>
NENGO_NATIVE_INLINE bool any(M<T> m) {
#if defined(__SSE2__)
  __m128i half[2];
  std::memcpy(half, &m, sizeof half);
  return _mm_movemask_epi8(_mm_or_si128(half[0], half[1])) != 0;
#else
  typedef uint64_t U __attribute__((vector_size(32)));  // the size of V<T>
  U u;
  std::memcpy(&u, &m, sizeof u);
  uint64_t acc = 0;
  for (int i = 0; i < 4; ++i) acc |= u[i];
  return acc != 0;
#endif
}

// Horner's rule over coefficients c[0] + c[1] x + ... (a polynomial of fixed degree).
template <typename T, size_t N>
NENGO_NATIVE_INLINE V<T> poly(V<T> x, const T (&c)[N]) {
  V<T> p = splat(c[N - 1]);
  for (size_t i = N - 1; i-- > 0;) p = p * x + c[i];
  return p;
}

// x = k ln2 + r with k an integer (as T and as 2^k) and |r| <= ln2 / 2; x is clamped to
// the range where 2^k is a normal number.
template <typename T>
NENGO_NATIVE_INLINE void reduce_exp(V<T> x, V<T>& r, V<T>& scale) {
  using Ty = Types<T>;
  x = select<T>(x > Ty::kExpHi, splat(T(Ty::kExpHi)), x);
  x = select<T>(x < Ty::kExpLo, splat(T(Ty::kExpLo)), x);
  const V<T> magic = splat(T(Ty::kMagic));
  // Adding 1.5 * 2^mantissa rounds x / ln2 to an integer held in the low bits.
  const V<T> shifted = x * T(1.4426950408889634) + magic;
  const V<T> k = shifted - magic;
  const M<T> ki = bits<T>(shifted) - bits<T>(magic);
  // ln2 in two parts so that k * ln2_hi is exact.
  r = x - k * T(0.693145751953125) - k * T(1.4286068203094172321e-6);
  scale = from_bits<T>((ki + Ty::kBias) << Ty::kMantissa);
}

// expm1(r) for |r| <= ln2 / 2: r (1 + r/2 + r^2/6 + ...), Taylor terms to the precision of T.
template <typename T>
NENGO_NATIVE_INLINE V<T> expm1_reduced(V<T> r) {
  if constexpr (sizeof(T) == 4) {
    static constexpr T c[] = {1.0f,          0.5f,          1.0f / 6,     1.0f / 24,
                              1.0f / 120,    1.0f / 720,    1.0f / 5040,  1.0f / 40320};
    return r * poly<T>(r, c);
  } else {
    static constexpr T c[] = {1.0,
                              0.5,
                              1.0 / 6,
                              1.0 / 24,
                              1.0 / 120,
                              1.0 / 720,
                              1.0 / 5040,
                              1.0 / 40320,
                              1.0 / 362880,
                              1.0 / 3628800,
                              1.0 / 39916800,
                              1.0 / 479001600,
                              1.0 / 6227020800.0};
    return r * poly<T>(r, c);
  }
}

// NaN lanes of x give NaN (the clamping in reduce_exp would otherwise hide them).
template <typename T>
NENGO_NATIVE_INLINE V<T> keep_nan(V<T> x, V<T> y) {
  return select<T>(x != x, x, y);
}

// e^x - 1, accurate for small |x| as well: 2^k (expm1(r) + 1) - 1 = 2^k expm1(r) + (2^k - 1),
// which for k = 0 is expm1(r) itself.
template <typename T>
NENGO_NATIVE_INLINE V<T> expm1(V<T> x) {
  V<T> r, scale;
  reduce_exp<T>(x, r, scale);
  return keep_nan<T>(x, scale * expm1_reduced<T>(r) + (scale - T(1)));
}

template <typename T>
NENGO_NATIVE_INLINE V<T> exp(V<T> x) {
  V<T> r, scale;
  reduce_exp<T>(x, r, scale);
  return keep_nan<T>(x, scale * expm1_reduced<T>(r) + scale);
}

// Natural log: w = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) for
// s = (m - 1) / (m + 1), |s| < 0.172, as the odd series in s to the precision of T.
// Zero gives -inf, negatives and NaN give NaN, +inf gives +inf; subnormals are treated
// as zero (only the throughput mode uses this).
template <typename T>
NENGO_NATIVE_INLINE V<T> log(V<T> w) {
  using Ty = Types<T>;
  using I = std::remove_reference_t<decltype(M<T>{}[0])>;
  const M<T> wb = bits<T>(w);
  constexpr I kMantMask = (I(1) << Ty::kMantissa) - 1;
  M<T> e = ((wb >> Ty::kMantissa) & I(2 * Ty::kBias + 1)) - I(Ty::kBias);
  V<T> m = from_bits<T>((wb & kMantMask) | (I(Ty::kBias) << Ty::kMantissa));  // [1, 2)
  const M<T> big = m > T(1.4142135623730951);
  m = select<T>(big, m * T(0.5), m);
  e = e - big;  // a set mask lane is -1
  V<T> ef = __builtin_convertvector(e, V<T>);
  const V<T> s = (m - T(1)) / (m + T(1));
  const V<T> z = s * s;
  V<T> series;
  if constexpr (sizeof(T) == 4) {
    static constexpr T c[] = {2.0f, 2.0f / 3, 2.0f / 5, 2.0f / 7, 2.0f / 9};
    series = s * poly<T>(z, c);
  } else {
    static constexpr T c[] = {2.0,      2.0 / 3,  2.0 / 5,  2.0 / 7,  2.0 / 9,  2.0 / 11,
                              2.0 / 13, 2.0 / 15, 2.0 / 17, 2.0 / 19, 2.0 / 21};
    series = s * poly<T>(z, c);
  }
  V<T> out = ef * T(0.693145751953125) + (series + ef * T(1.4286068203094172321e-6));
  const T inf = std::numeric_limits<T>::infinity();
  out = select<T>(w < std::numeric_limits<T>::min(), splat(-inf), out);
  out = select<T>(w < T(0), splat(std::numeric_limits<T>::quiet_NaN()), out);
  out = select<T>(w == inf, w, out);
  return keep_nan<T>(w, out);
}

// log(1 + u) with the rounding of 1 + u corrected to first order.
template <typename T>
NENGO_NATIVE_INLINE V<T> log1p(V<T> u) {
  const V<T> w = u + T(1);
  const V<T> lost = u - (w - T(1));
  return log<T>(w) + lost / w;
}

// Runtime dispatch for the throughput kernels: `on_best_isa(f)` runs f(IsaTag<I>{})
// compiled for the widest instruction set I the running CPU has (AVX-512, AVX2 with FMA,
// or the baseline the wheel targets), by flattening it into a function built for that
// target. Unlike the exact kernels' clones, these may differ in rounding between
// instruction sets: the throughput mode is deterministic per machine, not across machines.
enum class Isa { kBaseline, kAvx2, kAvx512 };
template <Isa I>
using IsaTag = std::integral_constant<Isa, I>;

// `select` for code that knows its instruction set: the vector ?: is one blend where the
// set has one (AVX2, AVX-512), while on the SSE2 baseline GCC makes it a branch per lane.
template <typename T, Isa I>
NENGO_NATIVE_INLINE V<T> pick(IsaTag<I>, M<T> m, V<T> a, V<T> b) {
  if constexpr (I == Isa::kBaseline) {
    return select<T>(m, a, b);
  } else {
    return m ? a : b;
  }
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__) && \
    defined(__ELF__)
inline Isa cpu_isa() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
      return Isa::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
    return Isa::kBaseline;
  }();
  return isa;
}

template <typename F>
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"), flatten)) void on_avx512(const F& f) {
  f(IsaTag<Isa::kAvx512>{});
}
template <typename F>
__attribute__((target("avx2,fma"), flatten)) void on_avx2(const F& f) {
  f(IsaTag<Isa::kAvx2>{});
}
template <typename F>
__attribute__((flatten)) void on_baseline(const F& f) {
  f(IsaTag<Isa::kBaseline>{});
}

template <typename F>
void on_best_isa(const F& f) {
  switch (cpu_isa()) {
    case Isa::kAvx512:
      return on_avx512(f);
    case Isa::kAvx2:
      return on_avx2(f);
    default:
      return on_baseline(f);
  }
}
#else
template <typename F>
void on_best_isa(const F& f) {
  f(IsaTag<Isa::kBaseline>{});
}
#endif

}  // namespace vmath
}  // namespace nengo_native
