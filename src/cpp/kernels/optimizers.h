// Optimizer updates of a flat parameter vector, in place: the Python optimizers' rules
// in one pass instead of a handful of numpy calls (a small network's training step
// spends more time dispatching those than computing them). The arithmetic is numpy's,
// operation for operation in T, so both give the same bits.
#pragma once

#include <cstdint>

namespace nengo_native {

// p -= lr g; with momentum mu: v = mu v - lr g, then p += v (Nesterov: p += mu v - lr g).
template <typename T>
void sgd_update(T* param, const T* grad, T* velocity, int64_t n, T lr, T momentum,
                bool nesterov);

// m += (g - m)(1 - b1); v += (g g - v)(1 - b2); p -= m alpha / (sqrt(v) + eps).
template <typename T>
void adam_update(T* param, const T* grad, T* m, T* v, int64_t n, T one_minus_beta_1,
                 T one_minus_beta_2, T alpha, T epsilon);

// s += (g g - s)(1 - rho); d = lr g / sqrt(s + eps); p -= d, or w = mu w + d, p -= w.
template <typename T>
void rmsprop_update(T* param, const T* grad, T* s, T* w, int64_t n, T lr, T one_minus_rho,
                    T momentum, T epsilon);

}  // namespace nengo_native
