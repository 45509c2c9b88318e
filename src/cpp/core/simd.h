// Runtime dispatch for hot loops: a wheel is built for the baseline x86-64 CPU, so the
// loops that vectorize are compiled twice more (AVX2, AVX-512) and the loader picks the
// clone the running CPU supports. The arithmetic is the same IEEE operations in every
// clone (no FMA contraction, no reassociation), so results do not depend on the clone.
#pragma once

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(__clang__) && \
    defined(__ELF__)
#define NENGO_NATIVE_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NENGO_NATIVE_MULTIVERSION
#endif

// For the templated bodies that the multiversioned entry points inline, so that each
// clone compiles them for its own instruction set.
#if defined(__GNUC__)
#define NENGO_NATIVE_INLINE inline __attribute__((always_inline))
#else
#define NENGO_NATIVE_INLINE inline
#endif

#include <cstdint>
#include <cstring>
#include <type_traits>

// Vectors only pass between always-inlined helpers, never across a call boundary, so the
// note that their ABI differs between instruction sets does not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace nengo_native {
namespace simd {

// A 32-byte vector of T and its comparison mask (GCC/Clang vector extensions): each lane
// does the one IEEE operation its scalar code would, so results are those of the scalar
// loop. On a baseline CPU the compiler splits a vector into two SSE2 registers.
template <typename T>
struct Types;
template <>
struct Types<double> {
  typedef double V __attribute__((vector_size(32)));
  typedef int64_t M __attribute__((vector_size(32)));
};
template <>
struct Types<float> {
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t M __attribute__((vector_size(32)));
};

template <typename T>
using V = typename Types<T>::V;
template <typename T>
using M = typename Types<T>::M;
template <typename T>
constexpr int64_t kWidth = 32 / sizeof(T);

template <typename T>
NENGO_NATIVE_INLINE V<T> splat(T x) {
  V<T> v;
  for (int64_t i = 0; i < kWidth<T>; ++i) v[i] = x;
  return v;
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

// The first `n` < kWidth lanes from p, the rest `fill`.
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

// Bit i set where lane i of the mask `m` is set (lanes are all ones or all zeros): each
// lane keeps its own bit, and the lanes are OR-ed together.
template <typename T>
NENGO_NATIVE_INLINE unsigned lane_bits(M<T> m) {
  using Lane = std::remove_reference_t<decltype(m[0])>;
  M<T> w;
  for (int64_t i = 0; i < kWidth<T>; ++i) w[i] = Lane(1) << i;
  M<T> x = m & w;
  unsigned bits = 0;
  for (int64_t i = 0; i < kWidth<T>; ++i) bits |= static_cast<unsigned>(x[i]);
  return bits;
}

}  // namespace simd
}  // namespace nengo_native
