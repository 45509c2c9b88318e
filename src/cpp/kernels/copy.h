// Reset (dst = value) and Copy (dst = src, dst += src, with index arrays), as runs of
// contiguous segments so that slices and index arrays share one representation.
#pragma once

#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"

namespace nengo_native {

// Segments of all items, flattened: item i owns segments [seg_ptr[i], seg_ptr[i+1]).
struct Segments {
  std::vector<int64_t> seg_ptr, dst, len;
  std::vector<int64_t> src;  // empty for Reset
};

// Consecutive segments (in item order) that continue each other in memory, joined: the
// planner's layout puts the signals of a group side by side, so a step's one-element
// copies of many ensembles become one long run. `src` is unused for Reset.
struct Run {
  int64_t src, dst, len, src_bstride, dst_bstride;
  double value;
};

template <typename T>
class ResetKernel : public Kernel<T> {
 public:
  ResetKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool item_parallel() const override { return per_item(dst_bstride_); }
  int64_t work() const override { return work_; }
  bool differentiable() const override { return true; }
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  Segments seg_;
  std::vector<int64_t> dst_bstride_, chain_ptr_;
  std::vector<double> value_;
  std::vector<Run> runs_;
  int64_t work_;
};

template <typename T>
class CopyKernel : public Kernel<T> {
 public:
  CopyKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool item_parallel() const override { return per_item(dst_bstride_); }
  int64_t work() const override { return work_; }
  bool differentiable() const override { return true; }
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  Segments seg_;
  std::vector<int64_t> src_bstride_, dst_bstride_, chain_ptr_;
  std::vector<Run> runs_;
  bool inc_;
  int64_t work_;
};

}  // namespace nengo_native
