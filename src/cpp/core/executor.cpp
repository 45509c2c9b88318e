#include "executor.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

#include "barrier.h"
#include "parallel.h"

namespace nengo_native {

template <typename T>
Executor<T>::Executor(int64_t arena_size, int64_t int_arena_size, int64_t minibatch_size, double dt,
                      int64_t step_offset, std::string backend)
    : minibatch_size_(minibatch_size), dt_(dt), backend_(std::move(backend)), step_offset_(step_offset) {
  const auto backends = kernel_backends();
  if (std::find(backends.begin(), backends.end(), backend_) == backends.end())
    throw std::invalid_argument("unknown backend '" + backend_ + "'");
  if (arena_size < 0 || int_arena_size < 0) throw std::invalid_argument("negative arena size");
  if (minibatch_size < 1) throw std::invalid_argument("minibatch_size must be at least 1");
  if (step_offset < 0 || step_offset >= int_arena_size)
    throw std::out_of_range("step counter offset outside the integer arena");
  int_data_.assign(static_cast<size_t>(int_arena_size), 0);
  // A model's weights can fill hundreds of megabytes of fresh pages, and faulting them
  // in costs more than the rest of the build on some machines: threads share it.
  data_.resize(static_cast<size_t>(arena_size));
  constexpr int64_t kChunk = int64_t(1) << 16;  // elements
  const int64_t chunks = (arena_size + kChunk - 1) / kChunk;
  parallel_for(chunks, chunks >= 8, [&](int64_t c) {
    const int64_t begin = c * kChunk;
    std::fill_n(data_.data() + begin, std::min(kChunk, arena_size - begin), T(0));
  });
}

template <typename T>
Shape Executor<T>::shape() const {
  return {arena_size(), int_arena_size(), minibatch_size_, dt_};
}

template <typename T>
void Executor<T>::add_kernel(const std::string& kind, const Params& params,
                             const std::string& training_kind, const Params& training_params) {
  Step step;
  step.kind = kind;
  if (!training_kind.empty())
    step.training_kernel = make_kernel<T>(training_kind, backend_, training_params, shape());
  step.kernel = make_kernel<T>(kind, backend_, params, shape());
  steps_.push_back(std::move(step));
  saved_ready_ = false;
}

template <typename T>
void Executor<T>::add_callback(std::function<void()> callback,
                               std::function<void(int64_t)> backward) {
  Step step;
  step.callback = std::move(callback);
  step.backward = std::move(backward);
  steps_.push_back(std::move(step));
}

template <typename T>
void Executor<T>::add_probe(const ProbeSpec& probe) {
  if (!(probe.period > 0)) throw std::invalid_argument("probe period must be positive");
  const MatRef& r = probe.ref;
  if (r.rows < 0 || r.cols < 0) throw std::invalid_argument("probe with negative size");
  if (r.rows > 0 && r.cols > 0) {
    int64_t lo = r.off, hi = r.off;
    for (int64_t extent : {(r.rows - 1) * r.rstride, (r.cols - 1) * r.cstride,
                           (minibatch_size_ - 1) * r.bstride}) {
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
    for (int64_t extent : {(dst.n - 1) * dst.stride, (minibatch_size_ - 1) * dst.bstride}) {
      if (extent < 0) lo += extent; else hi += extent;
    }
    if (lo < 0 || hi >= arena_size()) throw std::out_of_range("feed outside the arena");
    if (minibatch_size_ > 1 && dst.bstride == 0)
      throw std::invalid_argument("a fed signal needs one copy per batch item");
  }
  feeds_.push_back(dst);
  Step step;
  step.feed = static_cast<int64_t>(feeds_.size() - 1);
  steps_.push_back(std::move(step));
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
  return minibatch_size_ * r.rows * r.cols;
}

template <typename T>
void Executor<T>::record_probes(const std::vector<T*>& buffers, std::vector<int64_t>& written,
                                int64_t b0, int64_t b1) const {
  const double step = static_cast<double>(int_data_[step_offset_]);
  const T* data = data_.data();
  for (size_t i = 0; i < probes_.size(); ++i) {
    const ProbeSpec& p = probes_[i];
    if (!(std::fmod(step, p.period) < 1)) continue;
    const MatRef& r = p.ref;
    T* out = buffers[i] + (written[i] * minibatch_size_ + b0) * r.rows * r.cols;
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t row = 0; row < r.rows; ++row)
        for (int64_t col = 0; col < r.cols; ++col)
          *out++ = data[r.off + b * r.bstride + row * r.rstride + col * r.cstride];
    ++written[i];
  }
}

template <typename T>
bool Executor<T>::step_item_parallel(const Step& step) const {
  if (step.kernel) return step.kernel->item_parallel();
  return !step.callback;  // a feed writes each item's row of its data
}

template <typename T>
int Executor<T>::item_threads(int64_t n_steps, bool training) const {
  // Training records a tape in step order; it stays serial.
  if (training || minibatch_size_ < 2) return 1;
  const int threads = static_cast<int>(std::min<int64_t>(max_threads(), minibatch_size_));
  if (threads < 2) return 1;
  int64_t parallel_work = 0, serial_work = 0;
  for (const Step& step : steps_) {
    if (!step.kernel) continue;
    const int64_t work = step.kernel->work();
    const bool split = step.kernel->item_parallel();
    // A kernel big enough to split its own rows over threads keeps doing so.
    if (!split && work >= kParallelThreshold) return 1;
    (split ? parallel_work : serial_work) += work;
  }
  const bool pays = parallel_work >= kItemParallelWork &&
                    parallel_work * n_steps >= kParallelThreshold && serial_work <= parallel_work;
  return pays ? threads : 1;
}

template <typename T>
int64_t Executor<T>::share_begin(int t, int team) const {
  // Whole cache lines' worth of items where the layout lines them up (see the planner's
  // Layout) and the shares stay even: then no two threads write one line.
  const int64_t line = static_cast<int64_t>(kArenaAlignment / sizeof(T));
  const int64_t lines = minibatch_size_ / line;
  if (minibatch_size_ % line == 0 && (lines % team == 0 || lines >= 4 * team))
    return lines * t / team * line;
  return minibatch_size_ * t / team;
}

template <typename T>
std::vector<typename Executor<T>::Stage> Executor<T>::stages() const {
  std::vector<Stage> out;
  for (size_t k = 0; k < steps_.size(); ++k) {
    const bool parallel = step_item_parallel(steps_[k]);
    if (!out.empty() && out.back().item_parallel == parallel)
      out.back().end = k + 1;
    else
      out.push_back({k, k + 1, parallel});
  }
  return out;
}

template <typename T>
void Executor<T>::run(int64_t n_steps, const std::vector<T*>& buffers,
                      const std::vector<const T*>& feeds, bool training) {
  if (n_steps < 0) throw std::invalid_argument("cannot run a negative number of steps");
  if (buffers.size() != probes_.size())
    throw std::invalid_argument("expected " + std::to_string(probes_.size()) +
                                " probe buffers, got " + std::to_string(buffers.size()));
  if (feeds.size() != feeds_.size())
    throw std::invalid_argument("expected " + std::to_string(feeds_.size()) +
                                " feed buffers, got " + std::to_string(feeds.size()));
  written_.assign(probes_.size(), 0);
  completed_ = 0;
  trained_steps_ = -1;
  const int threads = item_threads(n_steps, training);
  item_threads_used_ = 1;
  if (threads > 1) return run_item_parallel(threads, n_steps, buffers, feeds);
  T* record = nullptr;
  if (training) {
    prepare_saved();
    size_t per_step = 0;
    for (const auto& step : steps_)
      for (const auto& run : step.saved) per_step += static_cast<size_t>(run.second);
    tape_.resize(per_step * static_cast<size_t>(n_steps));
    record = tape_.data();
    trained_from_ = int_data_[step_offset_];
    trained_feeds_.assign(feeds.size(), 0);
    for (size_t i = 0; i < feeds.size(); ++i) trained_feeds_[i] = feeds[i] != nullptr;
  }
  const Context<T> ctx{data_.data(), int_data_.data(), minibatch_size_, dt_, 0, minibatch_size_};
  for (int64_t n = 0; n < n_steps; ++n) {
    for (auto& step : steps_) {
      if (Kernel<T>* kernel = step.active(training)) {
        if (record)
          for (const auto& [off, len] : step.saved) {
            std::copy_n(data_.data() + off, len, record);
            record += len;
          }
        kernel->forward(ctx);
      } else if (step.callback)
        step.callback();
      else if (const T* src = feeds[step.feed])
        apply_feed(feeds_[step.feed], src, n, n_steps, 0, minibatch_size_);
    }
    record_probes(buffers, written_, 0, minibatch_size_);
    ++completed_;
  }
  if (training) trained_steps_ = n_steps;
}

// Each thread owns a contiguous share of the minibatch and runs every item-parallel
// stretch of a step on it without meeting the others; a stage that needs the whole
// batch (the clock, a Python node, a kernel that is not item-parallel) runs on thread 0,
// the caller's thread, between two barriers. Each item's arithmetic is what a serial run
// does, except where a kernel's own choices depend on the width of the batch it gets
// (GEMM blocking in the throughput mode).
template <typename T>
void Executor<T>::run_item_parallel(int threads, int64_t n_steps, const std::vector<T*>& buffers,
                                    const std::vector<const T*>& feeds) {
  const std::vector<Stage> plan = stages();
  std::unique_ptr<Barrier> barrier;
  std::vector<std::vector<int64_t>> written;
  std::vector<int64_t> done;
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel num_threads(threads)
  {
#pragma omp single
    {
      // The runtime may give fewer threads than asked for (a thread limit).
      const int team = team_size();
      item_threads_used_ = team;
      barrier = std::make_unique<Barrier>(team);
      written.assign(team, std::vector<int64_t>(probes_.size(), 0));
      done.assign(team, 0);
    }
    const int t = thread_index(), team = team_size();
    const int64_t b0 = share_begin(t, team), b1 = share_begin(t + 1, team);
    const Context<T> mine{data_.data(), int_data_.data(), minibatch_size_, dt_, b0, b1};
    const Context<T> all{data_.data(), int_data_.data(), minibatch_size_, dt_, 0,
                         minibatch_size_};
    const auto run_stage = [&](const Stage& stage, const Context<T>& ctx, int64_t n) {
      for (size_t k = stage.begin; k < stage.end; ++k) {
        Step& step = steps_[k];
        if (step.kernel)
          step.kernel->forward(ctx);
        else if (step.callback)
          step.callback();
        else if (const T* src = feeds[step.feed])
          apply_feed(feeds_[step.feed], src, n, n_steps, ctx.item_begin, ctx.item_end);
      }
    };
    // One step; false when the run stopped (a thread failed).
    const auto step = [&](int64_t n) {
      for (const Stage& stage : plan) {
        if (stage.item_parallel) {
          run_stage(stage, mine, n);
          continue;
        }
        if (barrier->wait()) return false;
        if (t == 0) run_stage(stage, all, n);
        if (barrier->wait()) return false;
      }
      record_probes(buffers, written[t], b0, b1);
      ++done[t];
      return true;
    };
    try {
      for (int64_t n = 0; n < n_steps && !barrier->stopped(); ++n)
        if (!step(n)) break;
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      barrier->stop();
    }
  }
  // What every item got.
  completed_ = *std::min_element(done.begin(), done.end());
  for (size_t i = 0; i < probes_.size(); ++i) {
    written_[i] = written[0][i];
    for (const auto& w : written) written_[i] = std::min(written_[i], w[i]);
  }
  if (error) std::rethrow_exception(error);
}

template <typename T>
void Executor<T>::set_written(std::vector<uint8_t> written) {
  if (static_cast<int64_t>(written.size()) != arena_size())
    throw std::invalid_argument("written mask must have one entry per arena element");
  written_mask_ = std::move(written);
  grad_.assign(data_.size(), T(0));
  saved_ready_ = false;
}

template <typename T>
void Executor<T>::prepare_saved() {
  if (saved_ready_) return;
  if (written_mask_.empty()) throw std::logic_error("set_written() must come before training");
  for (auto& step : steps_) {
    step.saved.clear();
    Kernel<T>* kernel = step.active(true);
    if (!kernel) continue;
    for (const VecRef& r : kernel->saved()) {
      for (int64_t b = 0; b < (r.bstride == 0 ? 1 : minibatch_size_); ++b)
        for (int64_t i = 0; i < r.n; ++i) {
          const int64_t idx = r.off + b * r.bstride + i * r.stride;
          if (idx < 0 || idx >= arena_size())
            throw std::out_of_range("a kernel's saved region lies outside the arena");
          if (!written_mask_[idx]) continue;
          // Element by element this was most of a small step's recording.
          if (!step.saved.empty() && step.saved.back().first + step.saved.back().second == idx)
            ++step.saved.back().second;
          else
            step.saved.emplace_back(idx, 1);
        }
    }
  }
  saved_ready_ = true;
}

template <typename T>
std::vector<size_t> Executor<T>::non_differentiable_steps() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& step = steps_[i];
    if (Kernel<T>* kernel = step.active(true)) {
      if (!kernel->differentiable()) out.push_back(i);
    } else if (step.callback && !step.backward) {
      out.push_back(i);
    }
  }
  return out;
}

template <typename T>
void Executor<T>::backward(const std::vector<const T*>& probe_grads) {
  if (trained_steps_ < 0 || completed_ != trained_steps_)
    throw std::logic_error("backward() needs a completed training run before it");
  if (probe_grads.size() != probes_.size())
    throw std::invalid_argument("expected " + std::to_string(probes_.size()) +
                                " probe gradients, got " + std::to_string(probe_grads.size()));
  const int64_t n_steps = trained_steps_;
  // Which sample of each probe step n took (-1: none), by the rule record_probes used.
  std::vector<std::vector<int64_t>> sample_at(probes_.size(),
                                              std::vector<int64_t>(n_steps, -1));
  for (size_t i = 0; i < probes_.size(); ++i) {
    int64_t count = 0;
    for (int64_t n = 0; n < n_steps; ++n)
      if (std::fmod(static_cast<double>(trained_from_ + n + 1), probes_[i].period) < 1)
        sample_at[i][n] = count++;
  }
  std::fill(grad_.begin(), grad_.end(), T(0));
  T* g = grad_.data();
  const Context<T> ctx{data_.data(), int_data_.data(), minibatch_size_, dt_, 0, minibatch_size_};
  const T* record = tape_.data() + tape_.size();
  for (int64_t n = n_steps - 1; n >= 0; --n) {
    for (size_t i = 0; i < probes_.size(); ++i) {
      const int64_t s = sample_at[i][n];
      if (!probe_grads[i] || s < 0) continue;
      const MatRef& r = probes_[i].ref;
      const T* in = probe_grads[i] + s * minibatch_size_ * r.rows * r.cols;
      for (int64_t b = 0; b < minibatch_size_; ++b)
        for (int64_t row = 0; row < r.rows; ++row)
          for (int64_t col = 0; col < r.cols; ++col)
            g[r.off + b * r.bstride + row * r.rstride + col * r.cstride] += *in++;
    }
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      Step& step = *it;
      if (Kernel<T>* kernel = step.active(true)) {
        // The tape read back to front: this step's runs, last run first.
        for (auto run = step.saved.rbegin(); run != step.saved.rend(); ++run) {
          record -= run->second;
          std::copy_n(record, run->second, data_.data() + run->first);
        }
        kernel->backward(ctx, g);
      } else if (step.callback) {
        if (!step.backward) throw std::logic_error("a Python step has no backward pass");
        step.backward(n);
      } else if (trained_feeds_[step.feed]) {
        // Fed data is not a function of anything upstream.
        const VecRef& dst = feeds_[step.feed];
        for (int64_t b = 0; b < minibatch_size_; ++b)
          for (int64_t i = 0; i < dst.n; ++i) g[dst.off + b * dst.bstride + i * dst.stride] = 0;
      }
    }
  }
}

template <typename T>
void Executor<T>::apply_feed(const VecRef& dst, const T* src, int64_t step, int64_t n_steps,
                             int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
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
  kernel_schemas().at(steps_[index].kind).check_state(steps_[index].kind, params);
  steps_[index].kernel->set_params(params);
}

template class Executor<float>;
template class Executor<double>;

}  // namespace nengo_native
