#include "executor.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace nengo_native {

template <typename T>
Executor<T>::Executor(int64_t arena_size, int64_t int_arena_size, int64_t batch, double dt,
                      int64_t step_offset)
    : data_(static_cast<size_t>(arena_size), T(0)),
      int_data_(static_cast<size_t>(int_arena_size), 0),
      batch_(batch),
      dt_(dt),
      step_offset_(step_offset) {
  if (arena_size < 0 || int_arena_size < 0) throw std::invalid_argument("negative arena size");
  if (batch < 1) throw std::invalid_argument("batch must be at least 1");
  if (step_offset < 0 || step_offset >= int_arena_size)
    throw std::out_of_range("step counter offset outside the integer arena");
}

template <typename T>
Shape Executor<T>::shape() const {
  return {arena_size(), int_arena_size(), batch_, dt_};
}

template <typename T>
void Executor<T>::add_kernel(std::unique_ptr<Kernel<T>> kernel) {
  steps_.push_back({std::move(kernel), nullptr});
}

template <typename T>
void Executor<T>::add_callback(std::function<void()> callback) {
  steps_.push_back({nullptr, std::move(callback)});
}

template <typename T>
void Executor<T>::add_probe(const ProbeSpec& probe) {
  if (!(probe.period > 0)) throw std::invalid_argument("probe period must be positive");
  const MatRef& r = probe.ref;
  if (r.rows < 0 || r.cols < 0) throw std::invalid_argument("probe with negative size");
  if (r.rows > 0 && r.cols > 0) {
    int64_t lo = r.off, hi = r.off;
    for (int64_t extent : {(r.rows - 1) * r.rstride, (r.cols - 1) * r.cstride,
                           (batch_ - 1) * r.bstride}) {
      if (extent < 0) lo += extent; else hi += extent;
    }
    if (lo < 0 || hi >= arena_size()) throw std::out_of_range("probe outside the arena");
  }
  probes_.push_back(probe);
}

template <typename T>
size_t Executor<T>::add_feed(const VecRef& dst) {
  if (dst.n < 0) throw std::invalid_argument("feed with negative size");
  if (dst.n > 0) {
    int64_t lo = dst.off, hi = dst.off;
    for (int64_t extent : {(dst.n - 1) * dst.stride, (batch_ - 1) * dst.bstride}) {
      if (extent < 0) lo += extent; else hi += extent;
    }
    if (lo < 0 || hi >= arena_size()) throw std::out_of_range("feed outside the arena");
    if (batch_ > 1 && dst.bstride == 0)
      throw std::invalid_argument("a fed signal needs one copy per batch item");
  }
  feeds_.push_back(dst);
  steps_.push_back({nullptr, nullptr, static_cast<int64_t>(feeds_.size() - 1)});
  return feeds_.size() - 1;
}

template <typename T>
int64_t Executor<T>::samples_in(size_t i, int64_t n_steps) const {
  const double period = probes_.at(i).period;
  const int64_t now = int_data_[step_offset_];
  int64_t count = 0;
  for (int64_t s = now + 1; s <= now + n_steps; ++s)
    if (std::fmod(static_cast<double>(s), period) < 1) ++count;
  return count;
}

template <typename T>
int64_t Executor<T>::sample_size(size_t i) const {
  const MatRef& r = probes_.at(i).ref;
  return batch_ * r.rows * r.cols;
}

template <typename T>
void Executor<T>::record_probes(const std::vector<T*>& buffers) {
  const double step = static_cast<double>(int_data_[step_offset_]);
  const T* data = data_.data();
  for (size_t i = 0; i < probes_.size(); ++i) {
    const ProbeSpec& p = probes_[i];
    if (!(std::fmod(step, p.period) < 1)) continue;
    const MatRef& r = p.ref;
    T* out = buffers[i] + written_[i] * batch_ * r.rows * r.cols;
    for (int64_t b = 0; b < batch_; ++b)
      for (int64_t row = 0; row < r.rows; ++row)
        for (int64_t col = 0; col < r.cols; ++col)
          *out++ = data[r.off + b * r.bstride + row * r.rstride + col * r.cstride];
    ++written_[i];
  }
}

template <typename T>
void Executor<T>::run(int64_t n_steps, const std::vector<T*>& buffers,
                      const std::vector<const T*>& feeds) {
  if (n_steps < 0) throw std::invalid_argument("cannot run a negative number of steps");
  if (buffers.size() != probes_.size())
    throw std::invalid_argument("expected " + std::to_string(probes_.size()) +
                                " probe buffers, got " + std::to_string(buffers.size()));
  if (feeds.size() != feeds_.size())
    throw std::invalid_argument("expected " + std::to_string(feeds_.size()) +
                                " feed buffers, got " + std::to_string(feeds.size()));
  written_.assign(probes_.size(), 0);
  completed_ = 0;
  const Context<T> ctx{data_.data(), int_data_.data(), batch_, dt_};
  for (int64_t n = 0; n < n_steps; ++n) {
    for (auto& step : steps_) {
      if (step.kernel)
        step.kernel->forward(ctx);
      else if (step.callback)
        step.callback();
      else if (const T* src = feeds[step.feed])
        apply_feed(feeds_[step.feed], src, n, n_steps);
    }
    record_probes(buffers);
    ++completed_;
  }
}

template <typename T>
void Executor<T>::apply_feed(const VecRef& dst, const T* src, int64_t step, int64_t n_steps) {
  for (int64_t b = 0; b < batch_; ++b) {
    const T* row = src + (b * n_steps + step) * dst.n;
    T* out = data_.data() + dst.off + b * dst.bstride;
    for (int64_t i = 0; i < dst.n; ++i) out[i * dst.stride] = row[i];
  }
}

template <typename T>
void Executor<T>::reset_kernels() {
  for (auto& step : steps_)
    if (step.kernel) step.kernel->reset();
}

template <typename T>
void Executor<T>::set_kernel_params(size_t index, const Params& params) {
  if (index >= steps_.size() || !steps_[index].kernel)
    throw std::out_of_range("step " + std::to_string(index) + " is not a kernel");
  steps_[index].kernel->set_params(params);
}

template class Executor<float>;
template class Executor<double>;

}  // namespace nengo_native
