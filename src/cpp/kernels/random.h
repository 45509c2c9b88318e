// numpy's legacy RandomState stream (MT19937 with `random_sample` and `poisson`), reproduced
// bit for bit so that native stochastic neurons draw exactly the numbers nengo draws.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace nengo_native {

// The Mersenne Twister in the exact state layout numpy exposes through
// `RandomState.get_state()`: 624 key words and the position of the next word to temper.
class MT19937 {
 public:
  static constexpr int kN = 624;

  MT19937() = default;
  // `key` must hold kN words (each in [0, 2^32)), `pos` must lie in [0, kN].
  MT19937(const int64_t* key, int64_t pos);

  uint32_t next32() {
    if (pos_ == kN) regenerate();
    uint32_t y = key_[pos_++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
  }
  // numpy's `random_sample`: 53 random bits from two words, in [0, 1).
  double next_double() {
    const int32_t a = static_cast<int32_t>(next32() >> 5);
    const int32_t b = static_cast<int32_t>(next32() >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }

 private:
  void regenerate();
  std::array<uint32_t, kN> key_{};
  int pos_ = kN;
};

// numpy's legacy RandomState: the Mersenne Twister plus the cached second Gaussian of the
// polar Box-Muller method (`has_gauss`, `gauss` in `get_state()`), so `normal` draws exactly
// the numbers `RandomState.normal` draws.
struct LegacyRandom {
  MT19937 mt;
  bool has_gauss = false;
  double gauss = 0.0;

  // numpy's legacy_gauss: a polar Box-Muller pair, returning the second value first.
  double next_gauss();
  // numpy's legacy_normal: `loc + scale * gauss`.
  double normal(double loc, double scale) { return loc + scale * next_gauss(); }
};

// numpy's legacy `RandomState.poisson` for one draw (lam must already be validated).
int64_t poisson(MT19937& rng, double lam);
// The largest lam numpy's legacy `poisson` accepts.
double poisson_lam_max();

}  // namespace nengo_native
