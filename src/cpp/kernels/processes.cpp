#include "processes.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "../core/parallel.h"

namespace nengo_native {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// Python's `a % n` for n > 0: never negative.
int64_t py_mod(int64_t a, int64_t n) {
  const int64_t m = a % n;
  return m < 0 ? m + n : m;
}

std::vector<LegacyRandom> read_rngs(const Params& p, size_t count) {
  const auto& key = p.int_array("rng_key", count * MT19937::kN);
  const auto& pos = p.int_array("rng_pos", count);
  const auto& has_gauss = p.int_array("rng_has_gauss", count);
  const auto& gauss = p.real_array("rng_gauss", count);
  std::vector<LegacyRandom> rngs(count);
  for (size_t k = 0; k < count; ++k) {
    rngs[k].mt = MT19937(key.data() + k * MT19937::kN, pos[k]);
    rngs[k].has_gauss = has_gauss[k] != 0;
    rngs[k].gauss = gauss[k];
  }
  return rngs;
}

// numpy's pairwise summation (what `add.reduce` does along a contiguous axis) of n values
// at stride s: plain below 8 values, eight accumulators up to 128, halves above.
template <typename T>
T pairwise_sum(const T* a, int64_t n, int64_t s) {
  if (n < 8) {
    T res = T(0);
    for (int64_t i = 0; i < n; ++i) res = res + a[i * s];
    return res;
  }
  if (n <= 128) {
    T r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j * s];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] = r[j] + a[(i + j) * s];
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res = res + a[i * s];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2, s) + pairwise_sum(a + n2 * s, n - n2, s);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Noise

template <typename T>
NoiseKernel<T>::NoiseKernel(const Params& p, const Shape& s) : minibatch_size_(s.minibatch_size) {
  const size_t n = p.int_array("out_off").size();
  out_ = read_vec_refs(p, "out", n, s.arena_size, s.minibatch_size);
  x_ = read_mat_refs(p, "X", n, s.arena_size, s.minibatch_size);
  inc_ = p.int_array("inc", n);
  scale_ = p.int_array("scale", n);
  filter_ = p.int_array("filter", n);
  mean_ = p.real_array("mean", n);
  std_ = p.real_array("std", n);
  alpha_ = p.real_array("alpha", n);
  coef_ = p.real_array("coef");
  coef_ptr_ = p.offsets("coef_ptr", static_cast<int64_t>(coef_.size()), static_cast<int64_t>(n));
  chain_ptr_ = read_chain_ptr(p, n);
  dist_ = p.has("dist") ? p.int_array("dist", n) : std::vector<int64_t>(n, kGaussian);
  if (p.has("choice_cdf")) {
    choice_cdf_ = p.real_array("choice_cdf");
    choice_values_ = p.real_array("choice_values");
    choice_ptr_ = p.offsets("choice_ptr", static_cast<int64_t>(choice_cdf_.size()),
                            static_cast<int64_t>(n));
  } else {
    choice_ptr_.assign(n + 1, 0);
  }
  int64_t values_used = 0;
  for (size_t i = 0; i < n; ++i) {
    require(dist_[i] >= kGaussian && dist_[i] <= kChoice, "process_noise: unknown dist");
    const int64_t options = choice_ptr_[i + 1] - choice_ptr_[i];
    choice_value_start_.push_back(values_used);
    if (dist_[i] == kChoice) {
      require(options > 0, "process_noise: a Choice needs options");
      values_used += options * out_[i].n;
    }
  }
  require(values_used == static_cast<int64_t>(choice_values_.size()),
          "process_noise: Choice option values do not match the outputs' sizes");
  for (size_t i = 0; i < n; ++i) {
    const int64_t f = filter_[i], ns = x_[i].rows, size = out_[i].n;
    if (f >= 0) {
      // The same checks as the linear filter kernel's, for the variants noise can take.
      require(f <= 4, "process_noise: unknown filter variant");
      require(x_[i].cols == size, "process_noise: state and output sizes differ");
      const auto v = static_cast<FilterVariant>(f);
      int64_t want_ns = ns, want_coef = ns * ns + 2 * ns + 1;
      if (v == FilterVariant::NoX) want_ns = 0, want_coef = 1;
      if (v == FilterVariant::OneX || v == FilterVariant::OneXScalar) want_ns = 1, want_coef = 2;
      if (v == FilterVariant::OneXScalar) require(size == 1, "process_noise: OneXScalar size");
      if (v == FilterVariant::NoD || v == FilterVariant::General)
        require(ns >= 1, "process_noise: NoD/General need a state");
      require(ns == want_ns && coef_ptr_[i + 1] - coef_ptr_[i] == want_coef,
              "process_noise: state or coefficients do not fit the filter variant");
    }
    work_ += size * s.minibatch_size * (f >= 0 ? (ns + 1) * (ns + 1) + 8 : 8);
  }
  initial_rng_ = read_rngs(p, n * static_cast<size_t>(minibatch_size_));
  rng_ = initial_rng_;
}

template <typename T>
void NoiseKernel<T>::set_params(const Params& p) {
  initial_rng_ = read_rngs(p, out_.size() * static_cast<size_t>(minibatch_size_));
  rng_ = initial_rng_;
}

template <typename T>
void NoiseKernel<T>::run_item(const Context<T>& ctx, int64_t i) {
  const VecRef& out = out_[i];
  const MatRef& x = x_[i];
  const bool inc = inc_[i] != 0;
  thread_local std::vector<double> noise;
  thread_local std::vector<T> noise_t;
  noise.resize(static_cast<size_t>(out.n));
  for (int64_t b = 0; b < ctx.minibatch_size; ++b) {
    LegacyRandom& rng = rng_[i * minibatch_size_ + b];
    // dist.sample(n=1, d), then `alpha * x` when scaling. Gaussian: rng.normal(mean,
    // std, size=(1, d)); Uniform: rng.uniform(low, high, size=(1, d)), low + range * u;
    // Choice: options[searchsorted(cumsum(p), rng.rand(1))], one draw for the row.
    if (dist_[i] == kChoice) {
      const double u = rng.mt.next_double();
      const double* cdf = choice_cdf_.data() + choice_ptr_[i];
      const int64_t options = choice_ptr_[i + 1] - choice_ptr_[i];
      // numpy would fail on a draw past the last cumulative weight, which rounding can
      // leave a hair below 1 (a chance of about 1e-16 per draw); the last option it is.
      const int64_t row =
          std::min<int64_t>(std::lower_bound(cdf, cdf + options, u) - cdf, options - 1);
      const double* value = choice_values_.data() + choice_value_start_[i] + row * out.n;
      for (int64_t k = 0; k < out.n; ++k) noise[k] = scale_[i] ? alpha_[i] * value[k] : value[k];
    } else {
      for (int64_t k = 0; k < out.n; ++k) {
        const double v = dist_[i] == kUniform ? mean_[i] + std_[i] * rng.mt.next_double()
                                              : rng.normal(mean_[i], std_[i]);
        noise[k] = scale_[i] ? alpha_[i] * v : v;
      }
    }
    T* py = ctx.data + out.off + b * out.bstride;
    if (filter_[i] < 0) {
      // output[...] = x, or output[...] += x: float64 noise rounded once on store.
      for (int64_t k = 0; k < out.n; ++k) {
        T& o = py[k * out.stride];
        o = inc ? static_cast<T>(static_cast<double>(o) + noise[k]) : static_cast<T>(noise[k]);
      }
      continue;
    }
    // FilteredNoise: the synapse's step on the noise (exact in float64; in float32 the
    // noise is rounded to the arena type before filtering).
    noise_t.assign(noise.begin(), noise.end());
    const VecRef u{0, out.n, 1, 0};
    filter_apply(static_cast<FilterVariant>(filter_[i]), coef_.data() + coef_ptr_[i], inc, x.rows,
                 noise_t.data(), u, py, out, ctx.data + x.off + b * x.bstride, x);
  }
}

template <typename T>
void NoiseKernel<T>::forward(const Context<T>& ctx) {
  // Each op owns its generators; ops writing the same output share a chain and run in order.
  for_each_chain(chain_ptr_, work_, [&](int64_t i) { run_item(ctx, i); });
}

// ---------------------------------------------------------------------------------------
// Lookup

template <typename T>
LookupKernel<T>::LookupKernel(const Params& p, const Shape& s) : minibatch_size_(s.minibatch_size) {
  const auto& mode = p.int_array("mode");
  const size_t n = mode.size();
  out_ = read_vec_refs(p, "out", n, s.arena_size, s.minibatch_size);
  inc_ = p.int_array("inc", n);
  t_off_ = p.int_array("t_off", n);
  rows_ = p.int_array("rows", n);
  aux_ = p.real_array("aux");
  aux_ptr_ = p.offsets("aux_ptr", static_cast<int64_t>(aux_.size()), static_cast<int64_t>(n));
  chain_ptr_ = read_chain_ptr(p, n);
  for (size_t i = 0; i < n; ++i) {
    require(mode[i] >= 0 && mode[i] <= 3, "process_lookup: unknown mode");
    mode_.push_back(static_cast<LookupMode>(mode[i]));
    // Time is read from item 0: every item shares the clock.
    require(t_off_[i] >= 0 && t_off_[i] < s.arena_size, "process_lookup: time outside arena");
    require(rows_[i] >= 1, "process_lookup: a table needs a row");
    const int64_t n_aux = aux_ptr_[i + 1] - aux_ptr_[i];
    int64_t want_aux = 1;
    if (mode_[i] == LookupMode::Present) want_aux = 2;
    if (mode_[i] == LookupMode::PiecewiseZero || mode_[i] == LookupMode::StepGrid)
      want_aux = 1 + rows_[i];
    require(n_aux == want_aux, "process_lookup: constants do not fit the mode");
    work_ += out_[i].n * s.minibatch_size;
  }
  read_tables(p);
}

template <typename T>
void LookupKernel<T>::read_tables(const Params& p) {
  const size_t n = mode_.size();
  std::vector<int64_t> ptr = p.int_array("table_ptr", n);
  std::vector<int64_t> bstride = p.int_array("table_bstride", n);
  std::vector<double> table = p.real_array("table");
  for (size_t i = 0; i < n; ++i) {
    const int64_t block = rows_[i] * out_[i].n;
    require(bstride[i] == 0 || bstride[i] >= block, "process_lookup: tables overlap");
    const int64_t last = ptr[i] + block + bstride[i] * (minibatch_size_ - 1);
    require(ptr[i] >= 0 && last <= static_cast<int64_t>(table.size()),
            "process_lookup: table outside the table array");
  }
  table_ptr_ = std::move(ptr);
  table_bstride_ = std::move(bstride);
  table_ = std::move(table);
}

template <typename T>
void LookupKernel<T>::set_params(const Params& p) {
  read_tables(p);
}

template <typename T>
int64_t LookupKernel<T>::row(size_t i, double t) const {
  const double* aux = aux_.data() + aux_ptr_[i];
  const double dt = aux[0];
  const int64_t rows = rows_[i];
  switch (mode_[i]) {
    case LookupMode::Periodic:  // int(round(t / dt)): round half to even, as Python's
      return py_mod(static_cast<int64_t>(std::nearbyint(t / dt)), rows);
    case LookupMode::Present: {  // int() truncates toward zero
      const double x = (t - dt) / aux[1] + 1e-7;
      return py_mod(static_cast<int64_t>(std::trunc(x)), rows);
    }
    case LookupMode::PiecewiseZero: {  // searchsorted(tp, t + 0.5 * dt) - 1
      const double* tp = aux + 1;
      const double v = t + 0.5 * dt;
      return static_cast<int64_t>(std::lower_bound(tp, tp + rows, v) - tp) - 1;
    }
    case LookupMode::StepGrid: {
      // The table holds every step from 0 until the data ends; later times give zeros.
      const double* grid = aux + 1;
      if (t > grid[rows - 1]) return -1;
      const int64_t guess = static_cast<int64_t>(std::llround(t / dt));
      for (int64_t k : {guess, guess - 1, guess + 1})
        if (k >= 0 && k < rows && grid[k] == t) return k;
      throw std::domain_error("process_lookup: time " + std::to_string(t) +
                              " is not a simulator step time");
    }
  }
  return -1;
}

template <typename T>
void LookupKernel<T>::forward(const Context<T>& ctx) {
  // Rows first, outside any parallel region: a time off the grid throws.
  thread_local std::vector<int64_t> rows;
  rows.resize(mode_.size());
  for (size_t i = 0; i < mode_.size(); ++i)
    rows[i] = row(i, static_cast<double>(ctx.data[t_off_[i]]));  // t.item()
  const int64_t* row_of = rows.data();
  for_each_chain(chain_ptr_, work_, [&](int64_t i) {
    const VecRef& out = out_[i];
    const bool inc = inc_[i] != 0;
    const int64_t r = row_of[i];
    for (int64_t b = 0; b < ctx.minibatch_size; ++b) {
      T* py = ctx.data + out.off + b * out.bstride;
      const double* values = table_.data() + table_ptr_[i] + b * table_bstride_[i] + r * out.n;
      for (int64_t k = 0; k < out.n; ++k) {
        const double v = r < 0 ? 0.0 : values[k];
        T& o = py[k * out.stride];
        o = inc ? static_cast<T>(static_cast<double>(o) + v) : static_cast<T>(v);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// Triangle

template <typename T>
TriangleKernel<T>::TriangleKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("out_off").size();
  u_ = read_vec_refs(p, "U", n, s.arena_size, s.minibatch_size);
  out_ = read_vec_refs(p, "out", n, s.arena_size, s.minibatch_size);
  y_ = read_vec_refs(p, "Y", n, s.arena_size, s.minibatch_size);
  xi_ = read_vec_refs(p, "Xi", n, s.arena_size, s.minibatch_size);
  x_ = read_mat_refs(p, "X", n, s.arena_size, s.minibatch_size);
  inc_ = p.int_array("inc", n);
  n0_ = p.real_array("n0", n);
  ndiff_ = p.real_array("ndiff", n);
  chain_ptr_ = read_chain_ptr(p, n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t size = out_[i].n;
    require(u_[i].n == size && y_[i].n == size && x_[i].cols == size,
            "process_triangle: input, output and state sizes differ");
    require(xi_[i].n == 1 && x_[i].rows >= 1, "process_triangle: bad tap state");
    work_ += (x_[i].rows + 4) * size * s.minibatch_size;
  }
}

template <typename T>
void TriangleKernel<T>::run_item(const Context<T>& ctx, int64_t i) const {
  const VecRef &u = u_[i], &out = out_[i], &yr = y_[i], &xir = xi_[i];
  const MatRef& x = x_[i];
  const int64_t taps = x.rows, size = out.n;
  const bool inc = inc_[i] != 0;
  for (int64_t b = 0; b < ctx.minibatch_size; ++b) {
    const T* pu = ctx.data + u.off + b * u.bstride;
    T* py = ctx.data + out.off + b * out.bstride;
    T* Y = ctx.data + yr.off + b * yr.bstride;
    T* X = ctx.data + x.off + b * x.bstride;
    T& xi = ctx.data[xir.off + b * xir.bstride];
    // Y += n0 * signal; Y -= X.sum(axis=0). n0 and ndiff are float64 scalars, so their
    // products are float64, rounded when they meet the state.
    for (int64_t j = 0; j < size; ++j) {
      T& yj = Y[j * yr.stride];
      yj = static_cast<T>(static_cast<double>(yj) + n0_[i] * static_cast<double>(pu[j * u.stride]));
      const T* col = X + j * x.cstride;
      T sum;
      if (size == 1) {
        sum = pairwise_sum(col, taps, x.rstride);  // a contiguous reduction in numpy
      } else {
        sum = col[0];  // numpy reduces axis 0 row after row
        for (int64_t k = 1; k < taps; ++k) sum = sum + col[k * x.rstride];
      }
      yj = yj - sum;
    }
    // Xi[:] = (Xi + 1) % len(X); X[int(Xi)] = ndiff * signal
    xi = static_cast<T>(std::fmod(static_cast<double>(xi) + 1.0, static_cast<double>(taps)));
    const int64_t tap = static_cast<int64_t>(xi);
    // Only a counter corrupted from outside can leave [0, taps); nothing is thrown inside
    // a parallel region, so such a counter just writes no tap.
    if (tap >= 0 && tap < taps)
      for (int64_t j = 0; j < size; ++j)
        X[tap * x.rstride + j * x.cstride] =
            static_cast<T>(ndiff_[i] * static_cast<double>(pu[j * u.stride]));
    for (int64_t j = 0; j < size; ++j) {
      T& o = py[j * out.stride];
      const T yj = Y[j * yr.stride];
      o = inc ? static_cast<T>(o + yj) : yj;
    }
  }
}

template <typename T>
void TriangleKernel<T>::forward(const Context<T>& ctx) {
  for_each_chain(chain_ptr_, work_, [&](int64_t i) { run_item(ctx, i); });
}

// Named after nengo.dists classes.
const ConstantsRegistration kNoiseDists("NOISE_DISTS",
                                        {{"Gaussian", kGaussian},
                                         {"Uniform", kUniform},
                                         {"Choice", kChoice}});
const ConstantsRegistration kLookupModes("LOOKUP_MODES",
                                         {{"Periodic", int64_t(LookupMode::Periodic)},
                                          {"Present", int64_t(LookupMode::Present)},
                                          {"PiecewiseZero", int64_t(LookupMode::PiecewiseZero)},
                                          {"StepGrid", int64_t(LookupMode::StepGrid)}});

REGISTER_KERNEL("process_noise", NoiseKernel,
                KernelSchema()
                    .vecs({"out"})
                    .mats({"X"})
                    .ints({"inc", "scale", "filter", "coef_ptr", "rng_key", "rng_pos",
                           "rng_has_gauss"})
                    .reals({"mean", "std", "alpha", "coef", "rng_gauss"})
                    // Gaussian noise needs no `dist`, and only Choice needs the choice_*.
                    .optional_ints({"dist", "choice_ptr"})
                    .optional_reals({"choice_cdf", "choice_values"})
                    .chains()
                    .state({"rng_key", "rng_pos", "rng_has_gauss", "rng_gauss"}));
REGISTER_KERNEL("process_lookup", LookupKernel,
                KernelSchema()
                    .vecs({"out"})
                    .ints({"mode", "inc", "t_off", "rows", "aux_ptr", "table_ptr",
                           "table_bstride"})
                    .reals({"aux", "table"})
                    .chains()
                    .state({"table_ptr", "table_bstride", "table"}));
REGISTER_KERNEL("process_triangle", TriangleKernel,
                KernelSchema()
                    .vecs({"U", "out", "Y", "Xi"})
                    .mats({"X"})
                    .ints({"inc"})
                    .reals({"n0", "ndiff"})
                    .chains());

}  // namespace nengo_native
