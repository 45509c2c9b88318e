#include "random.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace nengo_native {

MT19937::MT19937(const int64_t* key, int64_t pos) {
  if (pos < 0 || pos > kN) throw std::invalid_argument("MT19937 position outside [0, 624]");
  for (int i = 0; i < kN; ++i) {
    if (key[i] < 0 || key[i] > 0xffffffffLL)
      throw std::invalid_argument("MT19937 key word outside [0, 2^32)");
    key_[i] = static_cast<uint32_t>(key[i]);
  }
  pos_ = static_cast<int>(pos);
}

void MT19937::regenerate() {
  constexpr int kM = 397;
  constexpr uint32_t kMatrixA = 0x9908b0dfU, kUpper = 0x80000000U, kLower = 0x7fffffffU;
  auto twist = [&](int i, int next, int far) {
    const uint32_t y = (key_[i] & kUpper) | (key_[next] & kLower);
    key_[i] = key_[far] ^ (y >> 1) ^ ((0U - (y & 1U)) & kMatrixA);
  };
  int i = 0;
  for (; i < kN - kM; ++i) twist(i, i + 1, i + kM);
  for (; i < kN - 1; ++i) twist(i, i + 1, i + kM - kN);
  twist(kN - 1, 0, kM - 1);
  pos_ = 0;
}

double LegacyRandom::next_gauss() {
  if (has_gauss) {
    has_gauss = false;
    const double cached = gauss;
    gauss = 0.0;
    return cached;
  }
  double f, x1, x2, r2;
  do {
    x1 = 2.0 * mt.next_double() - 1.0;
    x2 = 2.0 * mt.next_double() - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  // Polar method, as numpy writes it: f = sqrt(-2 log(r2) / r2).
  f = std::sqrt(-2.0 * std::log(r2) / r2);
  gauss = f * x1;
  has_gauss = true;
  return f * x2;
}

namespace {

// log(gamma(x)) as numpy's distributions compute it (Stirling series with a shift for
// small x); PTRS's acceptance test must round exactly as numpy's does.
double loggam(double x) {
  static const double a[10] = {8.333333333333333e-02, -2.777777777777778e-03,
                               7.936507936507937e-04, -5.952380952380952e-04,
                               8.417508417508418e-04, -1.917526917526918e-03,
                               6.410256410256410e-03, -2.955065359477124e-02,
                               1.796443723688307e-01, -1.39243221690590e+00};
  if (x == 1.0 || x == 2.0) return 0.0;
  const int64_t n = x < 7.0 ? static_cast<int64_t>(7 - x) : 0;
  double x0 = x + n;
  const double x2 = (1.0 / x0) * (1.0 / x0);
  const double lg2pi = 1.8378770664093453e+00;
  double gl0 = a[9];
  for (int k = 8; k >= 0; --k) {
    gl0 *= x2;
    gl0 += a[k];
  }
  double gl = gl0 / x0 + 0.5 * lg2pi + (x0 - 0.5) * std::log(x0) - x0;
  if (x < 7.0) {
    for (int64_t k = 1; k <= n; ++k) {
      gl -= std::log(x0 - 1.0);
      x0 -= 1.0;
    }
  }
  return gl;
}

// Multiplication method, used by numpy for lam < 10.
int64_t poisson_mult(MT19937& rng, double lam) {
  const double enlam = std::exp(-lam);
  int64_t x = 0;
  double prod = 1.0;
  while (true) {
    prod *= rng.next_double();
    if (prod > enlam)
      x += 1;
    else
      return x;
  }
}

// Hoermann's transformed rejection (PTRS), used by numpy for lam >= 10.
int64_t poisson_ptrs(MT19937& rng, double lam) {
  const double slam = std::sqrt(lam);
  const double loglam = std::log(lam);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4);
  const double vr = 0.9277 - 3.6224 / (b - 2);
  while (true) {
    const double u = rng.next_double() - 0.5;
    const double v = rng.next_double();
    const double us = 0.5 - std::fabs(u);
    const int64_t k = static_cast<int64_t>(std::floor((2 * a / us + b) * u + lam + 0.43));
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(invalpha) - std::log(a / (us * us) + b) <=
        -lam + static_cast<double>(k) * loglam - loggam(static_cast<double>(k) + 1))
      return k;
  }
}

}  // namespace

int64_t poisson(MT19937& rng, double lam) {
  if (lam >= 10) return poisson_ptrs(rng, lam);
  if (lam == 0) return 0;
  return poisson_mult(rng, lam);
}

double poisson_lam_max() {
  const double imax = static_cast<double>(std::numeric_limits<int64_t>::max());
  return imax - std::sqrt(imax) * 10;
}

}  // namespace nengo_native
