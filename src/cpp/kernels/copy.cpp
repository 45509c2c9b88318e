#include "copy.h"

#include <algorithm>
#include <stdexcept>

#include "../core/parallel.h"
#include "../core/refs.h"

namespace nengo_native {
namespace {

Segments read_segments(const Params& p, size_t n_items, bool with_src) {
  Segments s;
  s.seg_ptr = p.offsets("seg_ptr", -1, static_cast<int64_t>(n_items));
  const size_t n_seg = static_cast<size_t>(s.seg_ptr.back());
  s.dst = p.int_array("seg_dst", n_seg);
  s.len = p.int_array("seg_len", n_seg);
  if (with_src) s.src = p.int_array("seg_src", n_seg);
  for (int64_t len : s.len)
    if (len < 0) throw std::invalid_argument("negative segment length");
  return s;
}

// Every element of every segment of item i, over the batch, must lie in the arena.
void check_segments(const std::vector<int64_t>& start, const Segments& s,
                    const std::vector<int64_t>& bstride, const Shape& shape,
                    const std::string& what) {
  for (size_t i = 0; i + 1 < s.seg_ptr.size(); ++i) {
    std::vector<int64_t> ends;
    for (int64_t k = s.seg_ptr[i]; k < s.seg_ptr[i + 1]; ++k) {
      if (s.len[k] == 0) continue;
      ends.push_back(start[k]);
      ends.push_back(start[k] + s.len[k] - 1);
    }
    check_offsets(ends, bstride[i], shape.arena_size, shape.minibatch_size, what);
  }
}

int64_t total_length(const Segments& s, int64_t minibatch_size) {
  int64_t total = 0;
  for (int64_t len : s.len) total += len;
  return total * minibatch_size;
}

// Runs of the segments, for a step small enough to run on one thread (see Run). Running
// runs one after another, each over the whole minibatch, writes every element in the
// order the items' loops do: an element of item b is written by the same segments in
// the same order, and different b never share an element. A destination shared by the
// batch (bstride 0) would see its writes reordered: then there are no runs (empty).
std::vector<Run> join_runs(const Segments& s, const std::vector<int64_t>& src_bstride,
                           const std::vector<int64_t>& dst_bstride,
                           const std::vector<double>& value, int64_t minibatch_size) {
  std::vector<Run> runs;
  if (minibatch_size > 1 && !per_item(dst_bstride)) return runs;
  for (size_t i = 0; i + 1 < s.seg_ptr.size(); ++i)
    for (int64_t k = s.seg_ptr[i]; k < s.seg_ptr[i + 1]; ++k) {
      const Run next{s.src.empty() ? 0 : s.src[k], s.dst[k], s.len[k],
                     src_bstride.empty() ? 0 : src_bstride[i], dst_bstride[i],
                     value.empty() ? 0.0 : value[i]};
      if (next.len == 0) continue;
      if (!runs.empty()) {
        Run& last = runs.back();
        const bool joins = last.dst_bstride == next.dst_bstride &&
                           last.src_bstride == next.src_bstride && last.value == next.value &&
                           last.dst + last.len == next.dst &&
                           (s.src.empty() || last.src + last.len == next.src);
        if (joins) {
          last.len += next.len;
          continue;
        }
      }
      runs.push_back(next);
    }
  return runs;
}

}  // namespace

template <typename T>
ResetKernel<T>::ResetKernel(const Params& p, const Shape& s) {
  value_ = p.real_array("value");
  const size_t n = value_.size();
  seg_ = read_segments(p, n, false);
  dst_bstride_ = p.int_array("dst_bstride", n);
  chain_ptr_ = read_chain_ptr(p, n);
  check_segments(seg_.dst, seg_, dst_bstride_, s, "reset destination");
  work_ = total_length(seg_, s.minibatch_size);
  if (work_ < kParallelThreshold)
    runs_ = join_runs(seg_, {}, dst_bstride_, value_, s.minibatch_size);
}

template <typename T>
void ResetKernel<T>::forward(const Context<T>& ctx) {
  if (!runs_.empty()) {
    for (const Run& run : runs_) {
      const T value = static_cast<T>(run.value);
      for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b)
        std::fill_n(ctx.data + run.dst + b * run.dst_bstride, run.len, value);
    }
    return;
  }
  for_each_chain(chain_ptr_, work_, [&](int64_t i) {
    const T value = static_cast<T>(value_[i]);
    for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b) {
      T* base = ctx.data + b * dst_bstride_[i];
      for (int64_t k = seg_.seg_ptr[i]; k < seg_.seg_ptr[i + 1]; ++k) {
        T* dst = base + seg_.dst[k];
        for (int64_t j = 0; j < seg_.len[k]; ++j) dst[j] = value;
      }
    }
  });
}

template <typename T>
CopyKernel<T>::CopyKernel(const Params& p, const Shape& s) {
  src_bstride_ = p.int_array("src_bstride");
  const size_t n = src_bstride_.size();
  dst_bstride_ = p.int_array("dst_bstride", n);
  seg_ = read_segments(p, n, true);
  chain_ptr_ = read_chain_ptr(p, n);
  inc_ = p.integer("inc") != 0;
  check_segments(seg_.src, seg_, src_bstride_, s, "copy source");
  check_segments(seg_.dst, seg_, dst_bstride_, s, "copy destination");
  work_ = total_length(seg_, s.minibatch_size);
  if (work_ < kParallelThreshold)
    runs_ = join_runs(seg_, src_bstride_, dst_bstride_, {}, s.minibatch_size);
}

template <typename T>
void CopyKernel<T>::forward(const Context<T>& ctx) {
  if (!runs_.empty()) {
    for (const Run& run : runs_)
      for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b) {
        const T* src = ctx.data + run.src + b * run.src_bstride;
        T* dst = ctx.data + run.dst + b * run.dst_bstride;
        if (inc_)
          for (int64_t j = 0; j < run.len; ++j) dst[j] += src[j];
        else
          for (int64_t j = 0; j < run.len; ++j) dst[j] = src[j];
      }
    return;
  }
  for_each_chain(chain_ptr_, work_, [&](int64_t i) {
    for (int64_t b = ctx.item_begin; b < ctx.item_end; ++b) {
      const T* src_base = ctx.data + b * src_bstride_[i];
      T* dst_base = ctx.data + b * dst_bstride_[i];
      for (int64_t k = seg_.seg_ptr[i]; k < seg_.seg_ptr[i + 1]; ++k) {
        const T* src = src_base + seg_.src[k];
        T* dst = dst_base + seg_.dst[k];
        const int64_t len = seg_.len[k];
        if (inc_)
          for (int64_t j = 0; j < len; ++j) dst[j] += src[j];
        else
          for (int64_t j = 0; j < len; ++j) dst[j] = src[j];
      }
    }
  });
}

template <typename T>
void ResetKernel<T>::backward(const Context<T>& ctx, T* grad) {
  // The value is a constant: nothing upstream gets a gradient.
  for (size_t i = 0; i < value_.size(); ++i)
    for (int64_t b = 0; b < ctx.minibatch_size; ++b)
      for (int64_t k = seg_.seg_ptr[i]; k < seg_.seg_ptr[i + 1]; ++k)
        std::fill_n(grad + b * dst_bstride_[i] + seg_.dst[k], seg_.len[k], T(0));
}

template <typename T>
void CopyKernel<T>::backward(const Context<T>& ctx, T* grad) {
  // Serial and in reverse, so that of several copies setting one element only the last
  // (the one whose value survived) passes its gradient on, and sums into a source shared
  // by the batch come out the same for any number of threads.
  const int64_t n = static_cast<int64_t>(src_bstride_.size());
  for (int64_t i = n - 1; i >= 0; --i)
    for (int64_t b = ctx.minibatch_size - 1; b >= 0; --b) {
      T* g_src = grad + b * src_bstride_[i];
      T* g_dst = grad + b * dst_bstride_[i];
      for (int64_t k = seg_.seg_ptr[i + 1] - 1; k >= seg_.seg_ptr[i]; --k) {
        T* gs = g_src + seg_.src[k];
        T* gd = g_dst + seg_.dst[k];
        for (int64_t j = seg_.len[k] - 1; j >= 0; --j) {
          gs[j] += gd[j];
          if (!inc_) gd[j] = T(0);
        }
      }
    }
}

REGISTER_KERNEL("reset", ResetKernel,
                KernelSchema().reals({"value"}).ints({"seg_ptr", "seg_dst", "seg_len",
                                                      "dst_bstride"}).chains());
REGISTER_KERNEL("copy", CopyKernel,
                KernelSchema()
                    .ints({"src_bstride", "dst_bstride", "seg_ptr", "seg_dst", "seg_len",
                           "seg_src"})
                    .int_scalar("inc")
                    .chains());

}  // namespace nengo_native
