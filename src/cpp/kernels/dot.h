// DotInc family: Y += A @ X with A dense (strided view), CSR or block-sparse rows (BSR).
// Over a minibatch with a shared dense A, each row of A meets every item while cached.
#pragma once

#include <cstdint>
#include <vector>

#include "../core/kernel.h"
#include "../core/refs.h"
#include "dot_events.h"

namespace nengo_native {

template <typename T>
class DotIncKernel : public Kernel<T> {
 public:
  DotIncKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool differentiable() const override { return true; }
  std::vector<VecRef> saved() const override;
  void backward(const Context<T>& ctx, T* grad) override;

 protected:
  // Y += item i's product (in scratch), over the minibatch.
  void add_product(const Context<T>& ctx, size_t i);

  // Rows [begin, end) of item `item`'s product: the unit of parallel work.
  struct DenseTask {
    int64_t item, begin, end;
  };
  // Accumulators (rows x batch) a column-major task keeps: they stay in the L1 cache
  // while the task's slices of the active columns stream past.
  static constexpr int64_t kColumnTileElements = 2048;
  // Multiply-adds per task: enough that a task outweighs its scheduling, few enough
  // that one big matrix spreads over the threads.
  static constexpr int64_t kDenseTaskWork = 1 << 16;
  static constexpr int64_t kDenseRows = 4;

  std::vector<MatRef> a_;
  std::vector<VecRef> x_, y_;
  // Per item: its A is shared and stored by columns, so its product adds the columns of
  // its input's events (rows x work per event); else rows are dot products.
  std::vector<bool> by_columns_;
  std::vector<InputEvents<T>> events_;
  std::vector<DenseTask> tasks_;
  std::vector<int64_t> product_off_;  // each item's (rows x batch) block of product_
  std::vector<T> product_;
  int64_t dense_work_ = 0;
};

// dot_inc in the throughput mode (exact=False), with the same parameters: where every
// item's A is shared by the batch and stored by rows, each task's rows of the product
// come from one GEMM over the whole minibatch (Eigen's blocking and FMA order).
template <typename T>
class DotIncFastKernel : public DotIncKernel<T> {
 public:
  DotIncFastKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool item_parallel() const override { return gemm_ && per_item(this->y_); }
  int64_t work() const override { return this->dense_work_; }

 private:
  // Rows per task: enough that a GEMM pays for packing the batch of inputs.
  static constexpr int64_t kGemmRows = 128;
  bool gemm_ = true;
  std::vector<typename DotIncKernel<T>::DenseTask> gemm_tasks_;
};

// A block-sparse matrix: nbrow block rows of R x C blocks; block k's element (r, c) is at
// off + k * kstride + r * rstride + c * cstride (+ b * bstride for batch item b). CSR is the
// 1 x 1 block case with the nonzeros as blocks.
struct BsrRef {
  int64_t off, bstride, R, C, kstride, rstride, cstride, nbrow;
  int64_t indptr_start, indices_start;
};

template <typename T>
class BsrDotIncKernel : public Kernel<T> {
 public:
  BsrDotIncKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool differentiable() const override { return true; }
  std::vector<VecRef> saved() const override;
  void backward(const Context<T>& ctx, T* grad) override;

 protected:
  void run_item(const Context<T>& ctx, int64_t i, bool parallel_rows);
  void run_item_by_columns(const Context<T>& ctx, int64_t i, bool parallel_rows);
  // Items one after another, or chains of them on threads (see forward).
  template <typename RunItem>
  void for_items(RunItem&& run_item);

  // Accumulators (rows x batch) a block row's column-major task keeps (see DotIncKernel).
  static constexpr int64_t kColumnTileElements = 2048;

  std::vector<BsrRef> a_;
  std::vector<bool> lanes_;  // items in vector lanes (see bsr_block_row_lanes)
  // Per item: blocks stored by columns (the planner's column-major layout, for spiking
  // inputs), which add the columns of the input's events; see InputEvents.
  std::vector<bool> by_columns_;
  std::vector<InputEvents<T>> events_;
  std::vector<int64_t> indptr_, indices_;
  std::vector<VecRef> x_, y_;
  std::vector<int64_t> chain_ptr_, item_work_;
  int64_t work_ = 0, max_item_work_ = 0;
};

// bsr_dot_inc in the throughput mode (exact=False), with the same parameters: decoder rows
// (one-row blocks) and encoder columns (one-column blocks) over a shared A run in SIMD
// lanes, summing in any order with FMA; larger blocks are GEMMs over the minibatch; other
// shapes run the exact kernel's loops. Optionally (`Y_init`, `Y_init_start`) a block row
// starts from initial values shared by the minibatch (an ensemble's bias) instead of
// adding to its output: Y = init + A X, the planner's stand-in for a Copy before it.
template <typename T>
class BsrDotIncFastKernel : public BsrDotIncKernel<T> {
 public:
  BsrDotIncFastKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;
  bool item_parallel() const override { return no_exact_path_ && per_item(this->y_); }
  int64_t work() const override { return this->work_; }
  void backward(const Context<T>& ctx, T* grad) override;

 private:
  // kGemm: blocks with unit inner strides, each one GEMM over the minibatch.
  enum class Path { kExact, kRows, kColumns, kGemm };
  std::vector<Path> path_;
  // No item on the exact path: backward is all GEMMs, and forward splits by item.
  bool no_exact_path_ = true;
  // Per item, its block rows' initial-value offsets (-1: none), or nullptr.
  std::vector<const int64_t*> init_;
  std::vector<int64_t> init_offsets_;
};

// DotInc on integer signals (nengo keeps signals made from integer arrays as integers):
// each operand lives in the float arena or in the integer arena. Products of two integer
// operands are summed in int64, as numpy does; otherwise in double. Integer signals are
// shared by the batch, so the planner uses this kernel for minibatch 1 only.
struct MixedRef {
  bool in_ints;
  int64_t off, rows, cols, rstride, cstride;
};

template <typename T>
class IntDotIncKernel : public Kernel<T> {
 public:
  IntDotIncKernel(const Params& p, const Shape& s);
  void forward(const Context<T>& ctx) override;

 private:
  std::vector<MixedRef> a_, x_, y_;
};

}  // namespace nengo_native
