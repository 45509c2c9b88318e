#include "optimizers.h"

#include <cmath>

namespace nengo_native {

template <typename T>
void sgd_update(T* param, const T* grad, T* velocity, int64_t n, T lr, T momentum,
                bool nesterov) {
  for (int64_t i = 0; i < n; ++i) {
    const T step = grad[i] * lr;
    if (!velocity) {
      param[i] -= step;
      continue;
    }
    velocity[i] = velocity[i] * momentum - step;
    if (nesterov) {
      param[i] += velocity[i] * momentum;
      param[i] -= step;
    } else {
      param[i] += velocity[i];
    }
  }
}

template <typename T>
void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, T one_minus_beta_1,
                 T one_minus_beta_2, T alpha, T epsilon) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    // b1 m + (1 - b1) g, with one rounding fewer
    m[i] += (g - m[i]) * one_minus_beta_1;
    v[i] += (g * g - v[i]) * one_minus_beta_2;
    param[i] -= m[i] * alpha / (std::sqrt(v[i]) + epsilon);
  }
}

template <typename T>
void rmsprop_update(T* param, const T* grad, T* s, T* w, int64_t n, T lr, T one_minus_rho,
                    T momentum, T epsilon) {
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    s[i] += (g * g - s[i]) * one_minus_rho;
    const T d = g * lr / std::sqrt(s[i] + epsilon);
    if (w) {
      w[i] = w[i] * momentum + d;
      param[i] -= w[i];
    } else {
      param[i] -= d;
    }
  }
}

#define NENGO_NATIVE_OPTIMIZERS(T)                                                        \
  template void sgd_update<T>(T*, const T*, T*, int64_t, T, T, bool);                     \
  template void adam_update<T>(T*, const T*, T*, T*, int64_t, T, T, T, T);                \
  template void rmsprop_update<T>(T*, const T*, T*, T*, int64_t, T, T, T, T);
NENGO_NATIVE_OPTIMIZERS(float)
NENGO_NATIVE_OPTIMIZERS(double)
#undef NENGO_NATIVE_OPTIMIZERS

}  // namespace nengo_native
