#include "linear_filter.h"

#include <stdexcept>
#include <string>

#include "../core/parallel.h"

// The sums below must round exactly like nengo's numpy code (a product, then a sum);
// contracting them into fused multiply-adds would change the last bit.
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace nengo_native {

template <typename T>
LinearFilterKernel<T>::LinearFilterKernel(const Params& p, const Shape& s) {
  const auto& variant = p.int_array("variant");
  const size_t n = variant.size();
  inc_ = p.int_array("inc", n);
  coef_ = p.real_array("coef");
  coef_ptr_ = p.offsets("coef_ptr", static_cast<int64_t>(coef_.size()), static_cast<int64_t>(n));
  u_ = read_vec_refs(p, "U", n, s.arena_size, s.minibatch_size);
  out_ = read_vec_refs(p, "Out", n, s.arena_size, s.minibatch_size);
  x_ = read_mat_refs(p, "X", n, s.arena_size, s.minibatch_size);
  chain_ptr_ = read_chain_ptr(p, n);
  variant_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (variant[i] < 0 || variant[i] > 4)
      throw std::invalid_argument("linear_filter: unknown variant " + std::to_string(variant[i]));
    variant_[i] = static_cast<FilterVariant>(variant[i]);
    const int64_t size = out_[i].n, ns = x_[i].rows;
    if (u_[i].n != size || x_[i].cols != size)
      throw std::invalid_argument("linear_filter: input, output and state sizes differ");
    int64_t want_ns = -1, want_coef = 0;
    switch (variant_[i]) {
      case FilterVariant::NoX: want_ns = 0; want_coef = 1; break;
      case FilterVariant::OneX:
      case FilterVariant::OneXScalar: want_ns = 1; want_coef = 2; break;
      default:
        if (ns < 1) throw std::invalid_argument("linear_filter: NoD/General need a state");
        want_ns = ns;
        want_coef = ns * ns + 2 * ns + 1;
    }
    if (variant_[i] == FilterVariant::OneXScalar && size != 1)
      throw std::invalid_argument("linear_filter: OneXScalar needs a size-1 signal");
    if (ns != want_ns || coef_ptr_[i + 1] - coef_ptr_[i] != want_coef)
      throw std::invalid_argument("linear_filter: state or coefficients do not fit the variant");
    work_ += (ns + 1) * (ns + 1) * size * s.minibatch_size;
  }
}

template <typename T>
void filter_apply(FilterVariant variant, const double* c, bool inc, int64_t ns, const T* pu,
                  const VecRef& u, T* py, const VecRef& out, T* px, const MatRef& x) {
  switch (variant) {
    case FilterVariant::NoX: {
      // numpy: `d * signal` in the signal's type.
      const T d = static_cast<T>(c[0]);
      for (int64_t j = 0; j < out.n; ++j) {
        const T y = d * pu[j * u.stride];
        T& o = py[j * out.stride];
        o = inc ? static_cast<T>(o + y) : y;
      }
      break;
    }
    case FilterVariant::OneX: {
      // numpy: `X *= a; X += b * signal; return X[0]`, each in the state's type.
      const T a = static_cast<T>(c[0]), bb = static_cast<T>(c[1]);
      for (int64_t j = 0; j < out.n; ++j) {
        T& xs = px[j * x.cstride];
        const T scaled = xs * a;
        const T drive = bb * pu[j * u.stride];
        xs = scaled + drive;
        T& o = py[j * out.stride];
        o = inc ? static_cast<T>(o + xs) : xs;
      }
      break;
    }
    case FilterVariant::OneXScalar: {
      // Python floats: `a * X.item() + b * signal.item()` in double, stored in the state.
      const double scaled = c[0] * static_cast<double>(px[0]);
      const double drive = c[1] * static_cast<double>(pu[0]);
      px[0] = static_cast<T>(scaled + drive);
      py[0] = inc ? static_cast<T>(py[0] + px[0]) : px[0];
      break;
    }
    case FilterVariant::NoD:
    case FilterVariant::General: {
      // A, B, C, D are float64 in nengo, so numpy computes in double and rounds on store.
      const double *A = c, *B = c + ns * ns, *C = B + ns, D = C[ns];
      const bool general = variant == FilterVariant::General;
      thread_local std::vector<double> next;
      next.resize(ns);
      for (int64_t j = 0; j < out.n; ++j) {
        T* xj = px + j * x.cstride;
        const double uj = static_cast<double>(pu[j * u.stride]);
        double y = 0.0;
        if (general) {  // y = C x[t] + D u[t], from the old state
          for (int64_t k = 0; k < ns; ++k) {
            const double term = C[k] * static_cast<double>(xj[k * x.rstride]);
            y = k == 0 ? term : y + term;
          }
          const double pass = D * uj;
          y = y + pass;
        }
        for (int64_t r = 0; r < ns; ++r) {  // x[t+1] = A x[t] + B u[t]
          double acc = 0.0;
          for (int64_t k = 0; k < ns; ++k) {
            const double term = A[r * ns + k] * static_cast<double>(xj[k * x.rstride]);
            acc = k == 0 ? term : acc + term;
          }
          const double drive = B[r] * uj;
          next[r] = acc + drive;
        }
        for (int64_t r = 0; r < ns; ++r) xj[r * x.rstride] = static_cast<T>(next[r]);
        if (!general) {  // y = C x[t+1], from the new (stored) state
          for (int64_t k = 0; k < ns; ++k) {
            const double term = C[k] * static_cast<double>(xj[k * x.rstride]);
            y = k == 0 ? term : y + term;
          }
        }
        T& o = py[j * out.stride];
        o = inc ? static_cast<T>(static_cast<double>(o) + y) : static_cast<T>(y);
      }
      break;
    }
  }
}

template void filter_apply<float>(FilterVariant, const double*, bool, int64_t, const float*,
                                  const VecRef&, float*, const VecRef&, float*, const MatRef&);
template void filter_apply<double>(FilterVariant, const double*, bool, int64_t, const double*,
                                   const VecRef&, double*, const VecRef&, double*,
                                   const MatRef&);

template <typename T>
void LinearFilterKernel<T>::run_item(const Context<T>& ctx, int64_t i) const {
  const VecRef &u = u_[i], &out = out_[i];
  const MatRef& x = x_[i];
  const double* c = coef_.data() + coef_ptr_[i];
  const bool inc = inc_[i] != 0;
  for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b)
    filter_apply(variant_[i], c, inc, x.rows, ctx.data + u.off + b * u.bstride, u,
                 ctx.data + out.off + b * out.bstride, out, ctx.data + x.off + b * x.bstride, x);
}

template <typename T>
void LinearFilterKernel<T>::forward(const Context<T>& ctx) {
  for_each_chain(chain_ptr_, work_, [&](int64_t i) { run_item(ctx, i); });
}

// Reverse of filter_apply for one item: `gu`, `gy`, `gx` point at the adjoints of its
// input, output and state. With y the filter's output and x' the new state,
//   NoX:     y = d u
//   OneX:    x' = a x + b u, y = x'
//   General: y = C x + D u, x' = A x + B u
//   NoD:     x' = A x + B u, y = C x'
// and the output is set (adjoint consumed) or incremented (adjoint passed through).
template <typename T>
void filter_backward(FilterVariant variant, const double* c, bool inc, int64_t ns, T* gu,
                     const VecRef& u, T* gy, const VecRef& out, T* gx, const MatRef& x) {
  thread_local std::vector<double> g_next;
  g_next.resize(static_cast<size_t>(ns));
  for (int64_t j = 0; j < out.n; ++j) {
    T& go = gy[j * out.stride];
    const double g_out = static_cast<double>(go);
    if (!inc) go = T(0);
    T& g_in = gu[j * u.stride];
    T* gxj = gx + j * x.cstride;
    switch (variant) {
      case FilterVariant::NoX:
        g_in += static_cast<T>(c[0] * g_out);
        break;
      case FilterVariant::OneX:
      case FilterVariant::OneXScalar: {
        const double g_state = static_cast<double>(gxj[0]) + g_out;
        g_in += static_cast<T>(c[1] * g_state);
        gxj[0] = static_cast<T>(c[0] * g_state);
        break;
      }
      case FilterVariant::NoD:
      case FilterVariant::General: {
        const double *A = c, *B = c + ns * ns, *C = B + ns, D = C[ns];
        const bool general = variant == FilterVariant::General;
        for (int64_t r = 0; r < ns; ++r) {
          g_next[r] = static_cast<double>(gxj[r * x.rstride]);
          if (!general) g_next[r] += C[r] * g_out;
        }
        double g_u = general ? D * g_out : 0.0;
        for (int64_t r = 0; r < ns; ++r) g_u += B[r] * g_next[r];
        for (int64_t k = 0; k < ns; ++k) {
          double g = general ? C[k] * g_out : 0.0;
          for (int64_t r = 0; r < ns; ++r) g += A[r * ns + k] * g_next[r];
          gxj[k * x.rstride] = static_cast<T>(g);
        }
        g_in += static_cast<T>(g_u);
        break;
      }
    }
  }
}

template <typename T>
void LinearFilterKernel<T>::backward(const Context<T>& ctx, T* grad) {
  for (int64_t i = static_cast<int64_t>(u_.size()) - 1; i >= 0; --i) {
    const VecRef &u = u_[i], &out = out_[i];
    const MatRef& x = x_[i];
    const double* c = coef_.data() + coef_ptr_[i];
    for (int64_t b = ctx.minibatch_size - 1; b >= 0; --b)
      filter_backward(variant_[i], c, inc_[i] != 0, x.rows, grad + u.off + b * u.bstride, u,
                      grad + out.off + b * out.bstride, out, grad + x.off + b * x.bstride, x);
  }
}

// Named after nengo's LinearFilter Step classes, so the planner maps a step's type by name.
const ConstantsRegistration kFilterVariants("FILTER_VARIANTS",
                                            {{"NoX", int64_t(FilterVariant::NoX)},
                                             {"OneX", int64_t(FilterVariant::OneX)},
                                             {"OneXScalar", int64_t(FilterVariant::OneXScalar)},
                                             {"NoD", int64_t(FilterVariant::NoD)},
                                             {"General", int64_t(FilterVariant::General)}});

REGISTER_KERNEL("linear_filter", LinearFilterKernel,
                KernelSchema()
                    .ints({"variant", "inc", "coef_ptr"})
                    .reals({"coef"})
                    .vecs({"U", "Out"})
                    .mats({"X"})
                    .chains());

}  // namespace nengo_native
