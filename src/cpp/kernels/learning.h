// Learning rules (SimPES, SimBCM, SimOja, SimVoja, SimRLS): each computes its weight change
// `delta` (and RLS its inverse-correlation matrix P) with nengo's numpy arithmetic, in the
// same order, for every minibatch item (each item learns its own copy of the weights).
//
// A rule is one struct in learning.cpp: what it reads (its kernel's parameters) and its
// step. LearningKernel does the rest (reading refs, checking sizes, threads, the batch).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

// The size a rule's vector must have, in terms of delta's (post x pre) shape.
enum class LearnSize { Rows, Cols, One };
struct LearnVector {
  const char* name;  // the kernel's parameter prefix
  LearnSize size;
};
// The rule's second matrix (parameter prefix `mat`), if any.
enum class LearnMatrix { None, LikeDelta, PreByPre };

// A strided read-only vector of one item.
template <typename T>
struct LearnVec {
  const T* base;
  int64_t stride;
  T operator()(int64_t k) const { return base[k * stride]; }
};

// What a rule's step sees for one op and one minibatch item.
template <typename T>
struct LearnArgs {
  int64_t rows, cols;  // delta's shape (post x pre)
  T alpha;
  std::array<LearnVec<T>, 3> v;  // the rule's vectors, in its kVectors order
  T* delta;
  int64_t drs, dcs;
  T* mat;  // the second matrix (null without one)
  int64_t mrs, mcs;
  const double* reals;  // the op's constants, in the rule's kReals order
  const double* scale;  // the op's per-row scale (kRowScale rules)

  T& D(int64_t r, int64_t c) const { return delta[r * drs + c * dcs]; }
  T& M(int64_t r, int64_t c) const { return mat[r * mrs + c * mcs]; }
};

template <typename T, typename Rule>
class LearningKernel : public Kernel<T> {
 public:
  LearningKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;

 private:
  static constexpr size_t kVectors = Rule::kVectors.size();
  static constexpr size_t kReals = Rule::kReals.size();

  std::array<std::vector<VecRef>, kVectors> vec_;
  std::vector<MatRef> delta_, mat_;
  std::vector<double> alpha_;
  std::vector<double> reals_;  // op i's constants: reals_[i * kReals ..]
  // Per-row scale: op i's entries are scale_[scale_ptr_[i] ..].
  std::vector<int64_t> scale_ptr_;
  std::vector<double> scale_;
  std::vector<int64_t> chain_ptr_;
  int64_t work_ = 0;
};

}  // namespace nengo_native
