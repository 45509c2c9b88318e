#include "learning.h"

#include <stdexcept>
#include <string>

#include "../core/parallel.h"

namespace nengo_native {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("learning: " + what);
}

}  // namespace

template <typename T>
LearningKernel<T>::LearningKernel(const Params& p, const Shape& s, LearningRule rule)
    : rule_(rule) {
  const size_t n = p.int_array("delta_off").size();
  auto vec = [&](const char* name) { return read_vec_refs(p, name, n, s.arena_size, s.batch); };
  delta_ = read_mat_refs(p, "delta", n, s.arena_size, s.batch);
  alpha_ = p.real_array("alpha", n);
  chain_ptr_ = read_chain_ptr(p, n);
  const bool uses_error = rule == LearningRule::PES || rule == LearningRule::RLS;
  const bool uses_post = !uses_error;
  pre_ = vec("pre");
  if (uses_error) error_ = vec("error");
  if (uses_post) post_ = vec("post");
  if (rule == LearningRule::BCM) theta_ = vec("theta");
  if (rule == LearningRule::Voja) lsig_ = vec("lsig");
  if (rule == LearningRule::Oja || rule == LearningRule::Voja || rule == LearningRule::RLS)
    mat_ = read_mat_refs(p, "mat", n, s.arena_size, s.batch);
  if (rule == LearningRule::Oja) beta_ = p.real_array("beta", n);
  if (rule == LearningRule::Voja) {
    scale_ = p.real_array("scale");
    scale_ptr_ =
        p.offsets("scale_ptr", static_cast<int64_t>(scale_.size()), static_cast<int64_t>(n));
  }
  for (size_t i = 0; i < n; ++i) {
    const MatRef& d = delta_[i];
    const int64_t rows = d.rows, cols = d.cols;
    require(pre_[i].n == cols,
            "pre size differs from delta's columns");
    if (uses_error) require(error_[i].n == rows, "error size differs from delta's rows");
    if (uses_post) require(post_[i].n == rows, "post size differs from delta's rows");
    if (!theta_.empty()) require(theta_[i].n == rows, "theta size differs from delta's rows");
    if (!lsig_.empty()) require(lsig_[i].n == 1, "Voja's learning signal must be a scalar");
    if (!mat_.empty()) {
      if (rule == LearningRule::RLS)
        require(mat_[i].rows == cols && mat_[i].cols == cols, "P must be pre x pre");
      else
        require(mat_[i].rows == rows && mat_[i].cols == cols, "weights differ from delta");
    }
    if (!scale_ptr_.empty())
      require(scale_ptr_[i + 1] - scale_ptr_[i] == rows, "Voja's scale differs from delta");
    work_ += rows * cols * s.batch * (rule == LearningRule::RLS ? 3 : 1);
  }
}

template <typename T>
void LearningKernel<T>::run_item(const Context<T>& ctx, int64_t i, int64_t b) const {
  T* data = ctx.data;
  const MatRef& dr = delta_[i];
  T* delta = data + dr.off + b * dr.bstride;
  auto D = [&](int64_t r, int64_t c) -> T& { return delta[r * dr.rstride + c * dr.cstride]; };
  auto vec = [&](const std::vector<VecRef>& refs) {
    const VecRef& r = refs[i];
    const T* base = data + r.off + b * r.bstride;
    return [base, r](int64_t k) { return base[k * r.stride]; };
  };
  const int64_t rows = dr.rows, cols = dr.cols;
  // nengo's Python-float constants meet arrays of the arena's type and become T.
  const T alpha = static_cast<T>(alpha_[i]);
  const auto pre = vec(pre_);
  switch (rule_) {
    case LearningRule::PES: {  // np.outer(alpha * error, pre_filtered, out=delta)
      const auto err = vec(error_);
      for (int64_t r = 0; r < rows; ++r) {
        const T ae = alpha * err(r);
        for (int64_t c = 0; c < cols; ++c) D(r, c) = ae * pre(c);
      }
      break;
    }
    case LearningRule::BCM: {  // np.outer(alpha * post * (post - theta), pre)
      const auto post = vec(post_), theta = vec(theta_);
      for (int64_t r = 0; r < rows; ++r) {
        const T ap = alpha * post(r);
        const T v = ap * (post(r) - theta(r));
        for (int64_t c = 0; c < cols; ++c) D(r, c) = v * pre(c);
      }
      break;
    }
    case LearningRule::Oja: {
      // post_squared = alpha * post * post
      // delta = -beta * weights * post_squared[:, None]; delta += outer(alpha * post, pre)
      const auto post = vec(post_);
      const MatRef& wr = mat_[i];
      const T* w = data + wr.off + b * wr.bstride;
      const T nbeta = static_cast<T>(-beta_[i]);
      for (int64_t r = 0; r < rows; ++r) {
        const T ap = alpha * post(r);
        const T sq = ap * post(r);
        for (int64_t c = 0; c < cols; ++c) {
          const T decay = nbeta * w[r * wr.rstride + c * wr.cstride];
          const T forget = decay * sq;
          const T hebb = ap * pre(c);
          D(r, c) = forget + hebb;
        }
      }
      break;
    }
    case LearningRule::Voja: {
      // alpha * learning_signal * (scale[:, None] * outer(post, pre) - post[:, None] * enc)
      // `scale` is a float64 array, so everything after the T outer product is float64.
      const auto post = vec(post_), lsig = vec(lsig_);
      const MatRef& er = mat_[i];
      const T* enc = data + er.off + b * er.bstride;
      const double al = static_cast<double>(alpha * lsig(0));
      const double* scale = scale_.data() + scale_ptr_[i];
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const T outer = post(r) * pre(c);
          const double towards = scale[r] * static_cast<double>(outer);
          const T away = post(r) * enc[r * er.rstride + c * er.cstride];
          const double diff = towards - static_cast<double>(away);
          D(r, c) = static_cast<T>(al * diff);
        }
      }
      break;
    }
    case LearningRule::RLS: {
      // Pr = P.dot(r); rPr1 = 1 / (1 + r.dot(Pr))
      // P -= Pr[:, None] * (Pr[None, :] * rPr1); delta = error[:, None] * (-rPr1 * Pr[None, :])
      const auto err = vec(error_);
      const MatRef& pr = mat_[i];
      T* P = data + pr.off + b * pr.bstride;
      const int64_t n = cols;
      thread_local std::vector<T> Pr;
      Pr.assign(static_cast<size_t>(n), T(0));
      for (int64_t r = 0; r < n; ++r) {
        T acc = T(0);
        for (int64_t c = 0; c < n; ++c) {
          const T term = P[r * pr.rstride + c * pr.cstride] * pre(c);
          acc = c == 0 ? term : acc + term;
        }
        Pr[r] = acc;
      }
      T rPr = T(0);
      for (int64_t k = 0; k < n; ++k) {
        const T term = pre(k) * Pr[k];
        rPr = k == 0 ? term : rPr + term;
      }
      const T rPr1 = T(1) / (T(1) + rPr);
      const T neg = -rPr1;
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < n; ++c) {
          const T scaled = Pr[c] * rPr1;
          const T change = Pr[r] * scaled;
          T& pv = P[r * pr.rstride + c * pr.cstride];
          pv = pv - change;
        }
      for (int64_t c = 0; c < n; ++c) {
        const T g = neg * Pr[c];
        for (int64_t r = 0; r < rows; ++r) D(r, c) = err(r) * g;
      }
      break;
    }
  }
}

template <typename T>
void LearningKernel<T>::forward(const Context<T>& ctx) {
  // Items of one chain write overlapping memory and run in order on one thread.
  for_each_chain(chain_ptr_, work_, [&](int64_t i) {
    for (int64_t b = 0; b < ctx.batch; ++b) run_item(ctx, i, b);
  });
}

REGISTER_KERNEL_WITH("learning_pes", LearningKernel, LearningRule, LearningRule::PES);
REGISTER_KERNEL_WITH("learning_bcm", LearningKernel, LearningRule, LearningRule::BCM);
REGISTER_KERNEL_WITH("learning_oja", LearningKernel, LearningRule, LearningRule::Oja);
REGISTER_KERNEL_WITH("learning_voja", LearningKernel, LearningRule, LearningRule::Voja);
REGISTER_KERNEL_WITH("learning_rls", LearningKernel, LearningRule, LearningRule::RLS);

}  // namespace nengo_native
