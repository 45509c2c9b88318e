#include "learning.h"

#include <stdexcept>
#include <string>

#include "../core/parallel.h"

namespace nengo_native {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("learning: " + what);
}

// The rules. Each names its kernel, the vectors it reads (parameter prefixes, with the
// size each must have), its second matrix, its per-op constants besides `alpha`, whether
// it has a per-row scale, its work per delta element, and its step: nengo's make_step
// arithmetic for one op and one item. `alpha` is nengo's Python-float constant met with
// arrays of the arena's type, so already T. Names match lower_learning.py's rule table.

struct Pes {
  static constexpr const char* kKind = "learning_pes";
  static constexpr std::array<LearnVector, 2> kVectors{
      {{"pre", LearnSize::Cols}, {"error", LearnSize::Rows}}};
  static constexpr LearnMatrix kMatrix = LearnMatrix::None;
  static constexpr std::array<const char*, 0> kReals{};
  static constexpr bool kRowScale = false;
  static constexpr int64_t kWork = 1;

  // np.outer(alpha * error, pre_filtered, out=delta)
  template <typename T>
  static void step(const LearnArgs<T>& a) {
    const auto &pre = a.v[0], &err = a.v[1];
    for (int64_t r = 0; r < a.rows; ++r) {
      const T ae = a.alpha * err(r);
      for (int64_t c = 0; c < a.cols; ++c) a.D(r, c) = ae * pre(c);
    }
  }
};

struct Bcm {
  static constexpr const char* kKind = "learning_bcm";
  static constexpr std::array<LearnVector, 3> kVectors{
      {{"pre", LearnSize::Cols}, {"post", LearnSize::Rows}, {"theta", LearnSize::Rows}}};
  static constexpr LearnMatrix kMatrix = LearnMatrix::None;
  static constexpr std::array<const char*, 0> kReals{};
  static constexpr bool kRowScale = false;
  static constexpr int64_t kWork = 1;

  // np.outer(alpha * post * (post - theta), pre)
  template <typename T>
  static void step(const LearnArgs<T>& a) {
    const auto &pre = a.v[0], &post = a.v[1], &theta = a.v[2];
    for (int64_t r = 0; r < a.rows; ++r) {
      const T ap = a.alpha * post(r);
      const T v = ap * (post(r) - theta(r));
      for (int64_t c = 0; c < a.cols; ++c) a.D(r, c) = v * pre(c);
    }
  }
};

struct Oja {
  static constexpr const char* kKind = "learning_oja";
  static constexpr std::array<LearnVector, 2> kVectors{
      {{"pre", LearnSize::Cols}, {"post", LearnSize::Rows}}};
  static constexpr LearnMatrix kMatrix = LearnMatrix::LikeDelta;  // the weights
  static constexpr std::array<const char*, 1> kReals{{"beta"}};
  static constexpr bool kRowScale = false;
  static constexpr int64_t kWork = 1;

  // post_squared = alpha * post * post
  // delta = -beta * weights * post_squared[:, None]; delta += outer(alpha * post, pre)
  template <typename T>
  static void step(const LearnArgs<T>& a) {
    const auto &pre = a.v[0], &post = a.v[1];
    const T nbeta = static_cast<T>(-a.reals[0]);
    for (int64_t r = 0; r < a.rows; ++r) {
      const T ap = a.alpha * post(r);
      const T sq = ap * post(r);
      for (int64_t c = 0; c < a.cols; ++c) {
        const T decay = nbeta * a.M(r, c);
        const T forget = decay * sq;
        const T hebb = ap * pre(c);
        a.D(r, c) = forget + hebb;
      }
    }
  }
};

struct Voja {
  static constexpr const char* kKind = "learning_voja";
  static constexpr std::array<LearnVector, 3> kVectors{
      {{"pre", LearnSize::Cols}, {"post", LearnSize::Rows}, {"lsig", LearnSize::One}}};
  static constexpr LearnMatrix kMatrix = LearnMatrix::LikeDelta;  // the encoders
  static constexpr std::array<const char*, 0> kReals{};
  static constexpr bool kRowScale = true;
  static constexpr int64_t kWork = 1;

  // alpha * learning_signal * (scale[:, None] * outer(post, pre) - post[:, None] * enc)
  // `scale` is a float64 array, so everything after the T outer product is float64.
  template <typename T>
  static void step(const LearnArgs<T>& a) {
    const auto &pre = a.v[0], &post = a.v[1], &lsig = a.v[2];
    const double al = static_cast<double>(a.alpha * lsig(0));
    for (int64_t r = 0; r < a.rows; ++r) {
      for (int64_t c = 0; c < a.cols; ++c) {
        const T outer = post(r) * pre(c);
        const double towards = a.scale[r] * static_cast<double>(outer);
        const T away = post(r) * a.M(r, c);
        const double diff = towards - static_cast<double>(away);
        a.D(r, c) = static_cast<T>(al * diff);
      }
    }
  }
};

struct Rls {
  static constexpr const char* kKind = "learning_rls";
  static constexpr std::array<LearnVector, 2> kVectors{
      {{"pre", LearnSize::Cols}, {"error", LearnSize::Rows}}};
  static constexpr LearnMatrix kMatrix = LearnMatrix::PreByPre;  // P, updated in place
  static constexpr std::array<const char*, 0> kReals{};
  static constexpr bool kRowScale = false;
  static constexpr int64_t kWork = 3;

  // Pr = P.dot(r); rPr1 = 1 / (1 + r.dot(Pr))
  // P -= Pr[:, None] * (Pr[None, :] * rPr1); delta = error[:, None] * (-rPr1 * Pr[None, :])
  template <typename T>
  static void step(const LearnArgs<T>& a) {
    const auto &pre = a.v[0], &err = a.v[1];
    const int64_t n = a.cols;
    thread_local std::vector<T> Pr;
    Pr.assign(static_cast<size_t>(n), T(0));
    for (int64_t r = 0; r < n; ++r) {
      T acc = T(0);
      for (int64_t c = 0; c < n; ++c) {
        const T term = a.M(r, c) * pre(c);
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
        T& pv = a.M(r, c);
        pv = pv - change;
      }
    for (int64_t c = 0; c < n; ++c) {
      const T g = neg * Pr[c];
      for (int64_t r = 0; r < a.rows; ++r) a.D(r, c) = err(r) * g;
    }
  }
};

const char* size_name(LearnSize s) {
  return s == LearnSize::Rows ? "delta's rows" : s == LearnSize::Cols ? "delta's columns" : "1";
}

}  // namespace

template <typename T, typename Rule>
LearningKernel<T, Rule>::LearningKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("delta_off").size();
  delta_ = read_mat_refs(p, "delta", n, s.arena_size, s.minibatch_size);
  alpha_ = p.real_array("alpha", n);
  chain_ptr_ = read_chain_ptr(p, n);
  for (size_t k = 0; k < kVectors; ++k)
    vec_[k] = read_vec_refs(p, Rule::kVectors[k].name, n, s.arena_size, s.minibatch_size);
  if (Rule::kMatrix != LearnMatrix::None) mat_ = read_mat_refs(p, "mat", n, s.arena_size, s.minibatch_size);
  reals_.resize(n * kReals);
  for (size_t k = 0; k < kReals; ++k) {
    const auto& column = p.real_array(Rule::kReals[k], n);
    for (size_t i = 0; i < n; ++i) reals_[i * kReals + k] = column[i];
  }
  if (Rule::kRowScale) {
    scale_ = p.real_array("scale");
    scale_ptr_ =
        p.offsets("scale_ptr", static_cast<int64_t>(scale_.size()), static_cast<int64_t>(n));
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t rows = delta_[i].rows, cols = delta_[i].cols;
    for (size_t k = 0; k < kVectors; ++k) {
      const LearnVector& spec = Rule::kVectors[k];
      const int64_t want =
          spec.size == LearnSize::Rows ? rows : spec.size == LearnSize::Cols ? cols : 1;
      require(vec_[k][i].n == want,
              std::string(spec.name) + " size differs from " + size_name(spec.size));
    }
    if (Rule::kMatrix == LearnMatrix::PreByPre)
      require(mat_[i].rows == cols && mat_[i].cols == cols, "mat must be pre x pre");
    if (Rule::kMatrix == LearnMatrix::LikeDelta)
      require(mat_[i].rows == rows && mat_[i].cols == cols, "mat differs from delta");
    if (Rule::kRowScale)
      require(scale_ptr_[i + 1] - scale_ptr_[i] == rows, "scale differs from delta's rows");
    work_ += rows * cols * s.minibatch_size * Rule::kWork;
  }
}

template <typename T, typename Rule>
void LearningKernel<T, Rule>::forward(const Context<T>& ctx) {
  // Items of one chain write overlapping memory and run in order on one thread.
  for_each_chain(chain_ptr_, work_, [&](int64_t i) {
    const MatRef& dr = delta_[i];
    for (int64_t b = 0; b < ctx.minibatch_size; ++b) {
      LearnArgs<T> a{};
      a.rows = dr.rows;
      a.cols = dr.cols;
      a.alpha = static_cast<T>(alpha_[i]);
      for (size_t k = 0; k < kVectors; ++k) {
        const VecRef& r = vec_[k][i];
        a.v[k] = {ctx.data + r.off + b * r.bstride, r.stride};
      }
      a.delta = ctx.data + dr.off + b * dr.bstride;
      a.drs = dr.rstride;
      a.dcs = dr.cstride;
      if (!mat_.empty()) {
        const MatRef& mr = mat_[i];
        a.mat = ctx.data + mr.off + b * mr.bstride;
        a.mrs = mr.rstride;
        a.mcs = mr.cstride;
      }
      a.reals = reals_.data() + i * kReals;
      a.scale = scale_ptr_.empty() ? nullptr : scale_.data() + scale_ptr_[i];
      Rule::step(a);
    }
  });
}

namespace {

template <typename Rule>
KernelSchema learning_schema() {
  KernelSchema schema;
  schema.mats({"delta"}).reals({"alpha"}).chains();
  for (const LearnVector& v : Rule::kVectors) schema.vecs({v.name});
  if (Rule::kMatrix != LearnMatrix::None) schema.mats({"mat"});
  for (const char* name : Rule::kReals) schema.reals({name});
  if (Rule::kRowScale) schema.reals({"scale"}).ints({"scale_ptr"});
  return schema;
}

template <typename Rule>
struct LearningRule {
  template <typename T>
  using Kernel = LearningKernel<T, Rule>;
};

}  // namespace

// A learning rule is a struct above and one line here.
#define REGISTER_LEARNING_RULE(Rule) \
  REGISTER_KERNEL(Rule::kKind, LearningRule<Rule>::template Kernel, learning_schema<Rule>())

REGISTER_LEARNING_RULE(Pes);
REGISTER_LEARNING_RULE(Bcm);
REGISTER_LEARNING_RULE(Oja);
REGISTER_LEARNING_RULE(Voja);
REGISTER_LEARNING_RULE(Rls);

}  // namespace nengo_native
