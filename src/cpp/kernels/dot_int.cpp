// Integer DotInc: operands in the float or the integer arena (minibatch 1).
#include "dot.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "../core/parallel.h"

namespace nengo_native {

namespace {

std::vector<MixedRef> read_mixed_refs(const Params& p, const std::string& prefix, size_t n,
                                      const Shape& s) {
  const auto& ints = p.int_array(prefix + "_ints", n);
  const auto& off = p.int_array(prefix + "_off", n);
  const auto& rows = p.int_array(prefix + "_rows", n);
  const auto& cols = p.int_array(prefix + "_cols", n);
  const auto& rs = p.int_array(prefix + "_rstride", n);
  const auto& cs = p.int_array(prefix + "_cstride", n);
  std::vector<MixedRef> refs;
  for (size_t i = 0; i < n; ++i) {
    const MixedRef r{ints[i] != 0, off[i], rows[i], cols[i], rs[i], cs[i]};
    if (r.rows < 0 || r.cols < 0) throw std::invalid_argument("int_dot_inc: negative size");
    if (r.rows > 0 && r.cols > 0) {
      const int64_t size = r.in_ints ? s.int_arena_size : s.arena_size;
      int64_t lo = r.off, hi = r.off;
      for (int64_t extent : {(r.rows - 1) * r.rstride, (r.cols - 1) * r.cstride}) {
        if (extent < 0) lo += extent; else hi += extent;
      }
      if (lo < 0 || hi >= size) throw std::out_of_range("int_dot_inc: " + prefix + " outside its arena");
    }
    refs.push_back(r);
  }
  return refs;
}

}  // namespace

template <typename T>
IntDotIncKernel<T>::IntDotIncKernel(const Params& p, const Shape& s) {
  const size_t n = p.int_array("Y_off").size();
  if (s.minibatch_size != 1) throw std::invalid_argument("int_dot_inc: integer signals need minibatch_size 1");
  a_ = read_mixed_refs(p, "A", n, s);
  x_ = read_mixed_refs(p, "X", n, s);
  y_ = read_mixed_refs(p, "Y", n, s);
  read_chain_ptr(p, n);
  for (size_t i = 0; i < n; ++i) {
    if (a_[i].cols != x_[i].rows * x_[i].cols || a_[i].rows != y_[i].rows * y_[i].cols)
      throw std::invalid_argument("int_dot_inc: shapes do not match");
    if (y_[i].in_ints && !(a_[i].in_ints && x_[i].in_ints))
      throw std::invalid_argument("int_dot_inc: an integer Y needs integer A and X");
  }
}

template <typename T>
void IntDotIncKernel<T>::forward(const Context<T>& ctx) {
  // Tiny, rare operators: serial, in Program order.
  for (size_t i = 0; i < y_.size(); ++i) {
    const MixedRef &a = a_[i], &x = x_[i], &y = y_[i];
    const bool integer = a.in_ints && x.in_ints;
    // X and Y are vectors: their one non-trivial axis is whichever is longer.
    const int64_t xs = x.rows > 1 ? x.rstride : x.cstride, ys = y.rows > 1 ? y.rstride : y.cstride;
    for (int64_t r = 0; r < a.rows; ++r) {
      int64_t isum = 0;
      double dsum = 0.0;
      for (int64_t c = 0; c < a.cols; ++c) {
        const int64_t ea = a.off + r * a.rstride + c * a.cstride, ex = x.off + c * xs;
        if (integer) {
          isum += ctx.int_data[ea] * ctx.int_data[ex];
        } else {
          const double av = a.in_ints ? static_cast<double>(ctx.int_data[ea]) : ctx.data[ea];
          const double xv = x.in_ints ? static_cast<double>(ctx.int_data[ex]) : ctx.data[ex];
          dsum += av * xv;
        }
      }
      const int64_t ey = y.off + r * ys;
      if (y.in_ints)
        ctx.int_data[ey] += isum;
      else
        ctx.data[ey] = static_cast<T>(static_cast<double>(ctx.data[ey]) +
                                      (integer ? static_cast<double>(isum) : dsum));
    }
  }
}

namespace {

// read_mixed_refs' fields for each operand.
KernelSchema int_dot_schema() {
  KernelSchema schema;
  for (const char* prefix : {"A", "X", "Y"})
    for (const char* field : {"ints", "off", "rows", "cols", "rstride", "cstride"})
      schema.add(std::string(prefix) + "_" + field, ParamType::Int, true, false);
  return schema.chains();
}

}  // namespace

REGISTER_KERNEL("int_dot_inc", IntDotIncKernel, int_dot_schema());

}  // namespace nengo_native
