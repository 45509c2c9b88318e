#include "conv.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../core/parallel.h"

namespace nengo_native {
namespace {

// Per-thread accumulator for one output position's channels. It only grows, so the step
// loop does not allocate once every size has been seen.
template <typename T>
T* scratch(int64_t n) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

template <typename T>
inline void axpy(T* acc, T x, const T* w, int64_t stride, int64_t n) {
  if (stride == 1) {  // nengo's weights have contiguous output channels: vectorizes
    for (int64_t j = 0; j < n; ++j) acc[j] += x * w[j];
  } else {
    for (int64_t j = 0; j < n; ++j) acc[j] += x * w[j * stride];
  }
}

// The three loops of the family. `L`, `S` and `W` point at one batch item's large signal,
// small signal and weights (or their adjoints). Each call owns the output elements it
// writes and sums them from zero before adding to the output, as numpy's `Y += conv(...)`
// does, so splitting calls over threads never changes the numbers.
//
// Zero inputs are skipped: spiking inputs are mostly zero, and a skipped term adds
// nothing (unless a weight is infinite or NaN, where numpy would give NaN).

// S[o, :] += sum over taps d and large channels of L[o * stride + d - pad, cl] w(d, cl, cs).
template <typename T>
void gather_small(const ConvItem& c, const T* L, const T* W, T* S, int64_t o, T* acc) {
  const int64_t o1 = o / c.s2, o2 = o % c.s2;
  std::fill(acc, acc + c.sc, T(0));
  for (int64_t d1 = 0; d1 < c.k1; ++d1) {
    const int64_t h1 = o1 * c.st1 + d1 - c.p1;
    if (h1 < 0 || h1 >= c.l1) continue;  // padding
    for (int64_t d2 = 0; d2 < c.k2; ++d2) {
      const int64_t h2 = o2 * c.st2 + d2 - c.p2;
      if (h2 < 0 || h2 >= c.l2) continue;
      const T* lp = L + h1 * c.ls1 + h2 * c.ls2;
      const T* wd = W + d1 * c.wk1 + d2 * c.wk2;
      for (int64_t g = 0; g < c.groups; ++g) {
        const T* wg = wd + g * c.sg * c.ws;
        for (int64_t j = 0; j < c.lg; ++j) {
          const T x = lp[(g * c.lg + j) * c.lsc];
          if (x == T(0)) continue;
          axpy(acc + g * c.sg, x, wg + j * c.wl, c.ws, c.sg);
        }
      }
    }
  }
  T* sp = S + o1 * c.ss1 + o2 * c.ss2;
  for (int64_t j = 0; j < c.sc; ++j) sp[j * c.ssc] += acc[j];
}

// L[h, :] += sum over (o, d) with o * stride + d - pad == h and small channels of
// S[o, cs] w(d, cl, cs): the transpose of gather_small.
template <typename T>
void gather_large(const ConvItem& c, const T* S, const T* W, T* L, int64_t h, T* acc) {
  const int64_t h1 = h / c.l2, h2 = h % c.l2;
  std::fill(acc, acc + c.lc, T(0));
  for (int64_t d1 = 0; d1 < c.k1; ++d1) {
    const int64_t t1 = h1 + c.p1 - d1;
    if (t1 < 0 || t1 % c.st1 != 0 || t1 / c.st1 >= c.s1) continue;
    const int64_t o1 = t1 / c.st1;
    for (int64_t d2 = 0; d2 < c.k2; ++d2) {
      const int64_t t2 = h2 + c.p2 - d2;
      if (t2 < 0 || t2 % c.st2 != 0 || t2 / c.st2 >= c.s2) continue;
      const int64_t o2 = t2 / c.st2;
      const T* sp = S + o1 * c.ss1 + o2 * c.ss2;
      const T* wd = W + d1 * c.wk1 + d2 * c.wk2;
      for (int64_t g = 0; g < c.groups; ++g) {
        for (int64_t j = 0; j < c.sg; ++j) {
          const int64_t cs = g * c.sg + j;
          const T x = sp[cs * c.ssc];
          if (x == T(0)) continue;
          axpy(acc + g * c.lg, x, wd + cs * c.ws, c.wl, c.lg);
        }
      }
    }
  }
  T* lp = L + h1 * c.ls1 + h2 * c.ls2;
  for (int64_t j = 0; j < c.lc; ++j) lp[j * c.lsc] += acc[j];
}

// gW(d, cl, cs) += sum over items and small positions o of L[o * stride + d - pad, cl]
// S[o, cs], for the tap and large channel numbered `t`. One call owns those weights, and
// adds items and positions in a fixed order.
template <typename T>
void weight_grad(const ConvItem& c, const T* L, const T* S, T* gW, int64_t minibatch_size, int64_t t) {
  const int64_t cl = t % c.lc, d = t / c.lc, d1 = d / c.k2, d2 = d % c.k2;
  const int64_t g = cl / c.lg;
  for (int64_t b = 0; b < minibatch_size; ++b) {
    const T* lb = L + b * c.large.bstride + cl * c.lsc;
    const T* sb = S + b * c.small.bstride + g * c.sg * c.ssc;
    T* gw = gW + b * c.w_bstride + d1 * c.wk1 + d2 * c.wk2 + (cl % c.lg) * c.wl + g * c.sg * c.ws;
    for (int64_t o1 = 0; o1 < c.s1; ++o1) {
      const int64_t h1 = o1 * c.st1 + d1 - c.p1;
      if (h1 < 0 || h1 >= c.l1) continue;
      for (int64_t o2 = 0; o2 < c.s2; ++o2) {
        const int64_t h2 = o2 * c.st2 + d2 - c.p2;
        if (h2 < 0 || h2 >= c.l2) continue;
        const T x = lb[h1 * c.ls1 + h2 * c.ls2];
        if (x == T(0)) continue;
        const T* sp = sb + o1 * c.ss1 + o2 * c.ss2;
        for (int64_t j = 0; j < c.sg; ++j) gw[j * c.ws] += x * sp[j * c.ssc];
      }
    }
  }
}

// Position and channel strides of a (n1, n2, channels) signal stored flat in either order.
void position_strides(bool channels_last, int64_t n1, int64_t n2, int64_t ch, int64_t stride,
                      int64_t& s1, int64_t& s2, int64_t& sc) {
  if (channels_last) {
    sc = stride;
    s2 = ch * stride;
    s1 = n2 * ch * stride;
  } else {
    s2 = stride;
    s1 = n2 * stride;
    sc = n1 * n2 * stride;
  }
}

// The weight's (extent, stride) axes, for span and overlap checks.
std::vector<std::pair<int64_t, int64_t>> weight_axes(const ConvItem& c) {
  return {{c.k1, c.wk1}, {c.k2, c.wk2}, {c.lg, c.wl}, {c.sc, c.ws}};
}

// Weights from distinct (tap, channel) pairs must be distinct elements: the weight
// gradient's tasks own disjoint sets of them. Sorted by stride, each axis must step past
// everything the smaller axes span.
bool weights_overlap(const ConvItem& c) {
  auto axes = weight_axes(c);
  std::sort(axes.begin(), axes.end(), [](const auto& a, const auto& b) {
    return std::abs(a.second) < std::abs(b.second);
  });
  int64_t span = 0;  // elements covered by the smaller axes, minus one
  for (const auto& [n, stride] : axes) {
    if (n <= 1) continue;
    if (std::abs(stride) <= span) return true;
    span += (n - 1) * std::abs(stride);
  }
  return false;
}

}  // namespace

template <typename T>
ConvIncKernel<T>::ConvIncKernel(const Params& p, const Shape& s, bool transpose)
    : transpose_(transpose) {
  const size_t n = p.int_array("Y_off").size();
  x_ = read_vec_refs(p, "X", n, s.arena_size, s.minibatch_size);
  y_ = read_vec_refs(p, "Y", n, s.arena_size, s.minibatch_size);
  chain_ptr_ = read_chain_ptr(p, n);
  const auto ints = [&](const char* name) -> const std::vector<int64_t>& {
    return p.int_array(name, n);
  };
  const auto &x_h = ints("x_h"), &x_w = ints("x_w"), &x_c = ints("x_c");
  const auto &y_h = ints("y_h"), &y_w = ints("y_w"), &y_c = ints("y_c");
  const auto &k_h = ints("k_h"), &k_w = ints("k_w");
  const auto &stride_h = ints("stride_h"), &stride_w = ints("stride_w");
  const auto &pad_h = ints("pad_h"), &pad_w = ints("pad_w");
  const auto &groups = ints("groups"), &channels_last = ints("channels_last");
  const auto &w_off = ints("W_off"), &w_bstride = ints("W_bstride");
  const auto &w_k1 = ints("W_k1"), &w_k2 = ints("W_k2");
  const auto &w_ci = ints("W_ci"), &w_co = ints("W_co");
  const std::string kind = transpose ? "conv_transpose_inc" : "conv_inc";
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(kind + ": " + why);
  };
  // Sizes must multiply to the signal's length without overflowing, which bounds each.
  const auto check_shape = [&](const VecRef& ref, int64_t a, int64_t b, int64_t c,
                               const char* what) {
    if (a < 1 || b < 1 || c < 1 || a > ref.n || b > ref.n || c > ref.n || a * b > ref.n ||
        a * b * c != ref.n)
      fail(std::string(what) + " shape does not match its size " + std::to_string(ref.n));
  };
  // Bounds that keep index arithmetic inside int64 (nengo's are tiny).
  constexpr int64_t kMaxKernel = int64_t(1) << 20, kMaxStep = int64_t(1) << 31;
  items_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    check_shape(x_[i], x_h[i], x_w[i], x_c[i], "X");
    check_shape(y_[i], y_h[i], y_w[i], y_c[i], "Y");
    for (int64_t v : {k_h[i], k_w[i]})
      if (v < 1 || v > kMaxKernel) fail("kernel sizes must be positive");
    for (int64_t v : {stride_h[i], stride_w[i]})
      if (v < 1 || v > kMaxStep) fail("strides must be positive");
    for (int64_t v : {pad_h[i], pad_w[i]})
      if (v < 0 || v > kMaxStep) fail("padding must not be negative");
    for (int64_t v : {w_k1[i], w_k2[i], w_ci[i], w_co[i]})
      if (std::abs(v) > s.arena_size) fail("weight strides reach outside the arena");
    if (channels_last[i] != 0 && channels_last[i] != 1) fail("channels_last must be 0 or 1");
    if (groups[i] < 1 || x_c[i] % groups[i] != 0 || y_c[i] % groups[i] != 0)
      fail("groups must divide both channel counts");
    // The grouped weight axis is the large side's; nengo's transposed convolution has
    // no groups.
    if (transpose && groups[i] != 1) fail("a transposed convolution has one group");

    ConvItem c{};
    const VecRef &large = transpose ? y_[i] : x_[i], &small = transpose ? x_[i] : y_[i];
    c.large = large;
    c.small = small;
    c.l1 = transpose ? y_h[i] : x_h[i];
    c.l2 = transpose ? y_w[i] : x_w[i];
    c.lc = transpose ? y_c[i] : x_c[i];
    c.s1 = transpose ? x_h[i] : y_h[i];
    c.s2 = transpose ? x_w[i] : y_w[i];
    c.sc = transpose ? x_c[i] : y_c[i];
    position_strides(channels_last[i], c.l1, c.l2, c.lc, large.stride, c.ls1, c.ls2, c.lsc);
    position_strides(channels_last[i], c.s1, c.s2, c.sc, small.stride, c.ss1, c.ss2, c.ssc);
    c.k1 = k_h[i];
    c.k2 = k_w[i];
    c.st1 = stride_h[i];
    c.st2 = stride_w[i];
    c.p1 = pad_h[i];
    c.p2 = pad_w[i];
    c.groups = groups[i];
    c.lg = c.lc / c.groups;
    c.sg = c.sc / c.groups;
    // nengo's kernel is (taps..., input channels per group, output channels).
    c.w_off = w_off[i];
    c.w_bstride = w_bstride[i];
    c.wk1 = w_k1[i];
    c.wk2 = w_k2[i];
    c.wl = transpose ? w_co[i] : w_ci[i];
    c.ws = transpose ? w_ci[i] : w_co[i];
    int64_t lo = 0, hi = 0;
    for (const auto& [count, stride] : weight_axes(c)) {
      lo += std::min<int64_t>(0, (count - 1) * stride);
      hi += std::max<int64_t>(0, (count - 1) * stride);
    }
    check_offsets({c.w_off + lo, c.w_off + hi}, c.w_bstride, s.arena_size, s.minibatch_size, kind + " W");
    if (weights_overlap(c)) fail("weight strides make distinct weights share elements");
    // Multiply-adds per call; only compared with thresholds, so saturating is fine.
    const double work = static_cast<double>(s.minibatch_size) * static_cast<double>(c.small.n) *
                        static_cast<double>(c.k1 * c.k2) * static_cast<double>(c.lg);
    c.work = static_cast<int64_t>(std::min(work, 1e15));
    work_ += c.work;
    max_item_work_ = std::max(max_item_work_, c.work);
    items_[i] = c;
  }
}

template <typename T>
void ConvIncKernel<T>::run_item(const Context<T>& ctx, int64_t i, bool parallel) const {
  const ConvItem& c = items_[i];
  // One task per output position, items inside it: each output element has one owner
  // even when an operand is shared by the batch.
  if (transpose_) {
    parallel_for(c.l1 * c.l2, parallel, [&](int64_t h) {
      T* acc = scratch<T>(c.lc);
      for (int64_t b = 0; b < ctx.minibatch_size; ++b)
        gather_large(c, ctx.data + c.small.off + b * c.small.bstride,
                     ctx.data + c.w_off + b * c.w_bstride,
                     ctx.data + c.large.off + b * c.large.bstride, h, acc);
    });
  } else {
    parallel_for(c.s1 * c.s2, parallel, [&](int64_t o) {
      T* acc = scratch<T>(c.sc);
      for (int64_t b = 0; b < ctx.minibatch_size; ++b)
        gather_small(c, ctx.data + c.large.off + b * c.large.bstride,
                     ctx.data + c.w_off + b * c.w_bstride,
                     ctx.data + c.small.off + b * c.small.bstride, o, acc);
    });
  }
}

template <typename T>
void ConvIncKernel<T>::forward(const Context<T>& ctx) {
  const int64_t n_chains = static_cast<int64_t>(chain_ptr_.size()) - 1;
  if (n_chains > 1 && 2 * max_item_work_ <= work_) {
    // Many comparable items: one thread per chain.
    for_each_chain(chain_ptr_, work_, [&](int64_t i) { run_item(ctx, i, false); });
  } else {
    // One dominant item: split its output positions.
    for (size_t i = 0; i < items_.size(); ++i)
      run_item(ctx, static_cast<int64_t>(i), items_[i].work >= kParallelThreshold);
  }
}

template <typename T>
std::vector<VecRef> ConvIncKernel<T>::saved() const {
  // X, and the weights as one span from their lowest to their highest element (saving
  // more than W is harmless; regions nothing writes are dropped by the executor).
  std::vector<VecRef> refs = x_;
  for (const ConvItem& c : items_) {
    int64_t lo = 0, hi = 0;
    for (const auto& [count, stride] : weight_axes(c)) {
      lo += std::min<int64_t>(0, (count - 1) * stride);
      hi += std::max<int64_t>(0, (count - 1) * stride);
    }
    refs.push_back({c.w_off + lo, hi - lo + 1, 1, c.w_bstride});
  }
  return refs;
}

template <typename T>
void ConvIncKernel<T>::backward(const Context<T>& ctx, T* grad) {
  // Y += M(W) X is linear in X and in W: dX += M(W)^T dY, and dW += the correlation of
  // dY with X (summed over items when W is shared). For a convolution M is gather_small
  // (large = X), so its transpose is gather_large; for a transposed convolution the
  // other way round. Items run serially in reverse; within one, tasks own their outputs.
  const int64_t minibatch_size = ctx.minibatch_size;
  for (int64_t i = static_cast<int64_t>(items_.size()) - 1; i >= 0; --i) {
    const ConvItem& c = items_[i];
    const bool parallel = c.work >= kParallelThreshold;
    const T* w = ctx.data + c.w_off;
    if (transpose_) {  // X is small, Y large
      parallel_for(c.s1 * c.s2, parallel, [&](int64_t o) {
        T* acc = scratch<T>(c.sc);
        for (int64_t b = 0; b < minibatch_size; ++b)
          gather_small(c, grad + c.large.off + b * c.large.bstride, w + b * c.w_bstride,
                       grad + c.small.off + b * c.small.bstride, o, acc);
      });
    } else {
      parallel_for(c.l1 * c.l2, parallel, [&](int64_t h) {
        T* acc = scratch<T>(c.lc);
        for (int64_t b = 0; b < minibatch_size; ++b)
          gather_large(c, grad + c.small.off + b * c.small.bstride, w + b * c.w_bstride,
                       grad + c.large.off + b * c.large.bstride, h, acc);
      });
    }
    const T* L = (transpose_ ? grad : ctx.data) + c.large.off;
    const T* S = (transpose_ ? ctx.data : grad) + c.small.off;
    parallel_for(c.k1 * c.k2 * c.lc, parallel,
                 [&](int64_t t) { weight_grad(c, L, S, grad + c.w_off, minibatch_size, t); });
  }
}

namespace {

KernelSchema conv_schema() {
  return KernelSchema()
      .vecs({"X", "Y"})
      .chains()
      .ints({"x_h", "x_w", "x_c", "y_h", "y_w", "y_c", "k_h", "k_w", "stride_h", "stride_w",
             "pad_h", "pad_w", "groups", "channels_last", "W_off", "W_bstride", "W_k1", "W_k2",
             "W_ci", "W_co"});
}

}  // namespace

// The flag is `transpose`.
REGISTER_KERNEL_WITH("conv_inc", ConvIncKernel, conv_schema(), bool, false);
REGISTER_KERNEL_WITH("conv_transpose_inc", ConvIncKernel, conv_schema(), bool, true);

}  // namespace nengo_native
