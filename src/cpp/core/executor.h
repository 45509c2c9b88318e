// Runs a Program: the ordered kernels, step after step, recording probes after each step.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "kernel.h"
#include "refs.h"

namespace nengo_native {

// A probe samples a (rows x cols) view of the arena every `period` steps (nengo's rule:
// a step n is sampled when fmod(n, period) < 1).
struct ProbeSpec {
  MatRef ref;
  double period;
};

constexpr size_t kArenaAlignment = 64;

// std::allocator that leaves elements of trivial types uninitialized (`resize(n)`
// without a value), so that the arena's pages are first touched by the threads that
// zero it (see Executor's constructor).
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U>&) {}
  // Cache-line aligned, so that a signal at a multiple of the vector width loads whole
  // vectors without straddling two lines.
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kArenaAlignment)));
  }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, std::align_val_t(kArenaAlignment)); }
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <typename T>
class Executor {
 public:
  // `backend` picks the implementation of every kernel this executor builds (see
  // kernel.h); "cpu" is the only one so far.
  Executor(int64_t arena_size, int64_t int_arena_size, int64_t minibatch_size, double dt,
           int64_t step_offset, std::string backend = kCpuBackend);

  T* data() { return data_.data(); }
  int64_t* int_data() { return int_data_.data(); }
  int64_t arena_size() const { return static_cast<int64_t>(data_.size()); }
  int64_t int_arena_size() const { return static_cast<int64_t>(int_data_.size()); }
  int64_t minibatch_size() const { return minibatch_size_; }
  const std::string& backend() const { return backend_; }
  Shape shape() const;

  // A Program step: the `kind` kernel of this executor's backend, its parameters checked
  // against the kind's schema. `training_kind`, when not empty, runs in place of it in
  // training runs (a spiking neuron's rate counterpart).
  void add_kernel(const std::string& kind, const Params& params,
                  const std::string& training_kind = "", const Params& training_params = {});
  // A step that runs outside the core (the user's Python); it must not throw past the
  // executor except to abort the run. `backward(n)`, when given, is its reverse-mode step
  // for step n of the last training run (it updates grad() itself).
  void add_callback(std::function<void()> callback,
                    std::function<void(int64_t)> backward = nullptr);
  void add_probe(const ProbeSpec& probe);
  // A step that, when the run is given data for it, overwrites `dst` (every batch item)
  // with the next step's row of that data. Returns the feed's index.
  size_t add_feed(const VecRef& dst);
  size_t n_kernels() const { return steps_.size(); }
  size_t n_probes() const { return probes_.size(); }
  size_t n_feeds() const { return feeds_.size(); }
  int64_t feed_size(size_t i) const { return feeds_.at(i).n; }

  // Samples the probe `i` would take over the next `n_steps` steps.
  int64_t samples_in(size_t i, int64_t n_steps) const;
  // Values in one sample of probe i: batch * rows * cols.
  int64_t sample_size(size_t i) const;

  // Run `n_steps` steps. `buffers[i]` receives probe i's samples, each of batch*rows*cols
  // values (item-major), and must hold at least samples_in(i, n_steps) samples.
  // `feeds[i]` is null (feed i inactive) or holds batch x n_steps x feed_size(i) values.
  // `samples_written()` tells how far each buffer got, also after an exception.
  // A training run uses the training kernels and records what backward() needs.
  void run(int64_t n_steps, const std::vector<T*>& buffers, const std::vector<const T*>& feeds,
           bool training = false);
  const std::vector<int64_t>& samples_written() const { return written_; }
  // Steps of the last run that finished (a step interrupted by an exception does not).
  int64_t steps_completed() const { return completed_; }
  // Threads the last run split the minibatch over (1: it ran serially).
  int item_threads_used() const { return item_threads_used_; }

  // Training. `written` flags (one byte per arena element) the elements some step writes;
  // only those change during a run, so only those are recorded for backward().
  void set_written(std::vector<uint8_t> written);
  // Indices (in Program order) of the steps a training run cannot differentiate.
  std::vector<size_t> non_differentiable_steps() const;
  // Reverse pass over the last training run, which must have completed. `probe_grads[i]`
  // is null or holds d(loss)/d(sample) in the layout of probe i's buffer. Afterwards
  // grad() holds d(loss)/d(arena at the start of the run), which for parameters is the
  // gradient summed over steps and items. Leaves the arena's state undefined.
  void backward(const std::vector<const T*>& probe_grads);
  // The adjoint arena (null before set_written()).
  T* grad() { return grad_.empty() ? nullptr : grad_.data(); }

  void reset_kernels();
  // Hand new seed-dependent parameters to the kernel of step `index` (in Program order,
  // callbacks included).
  void set_kernel_params(size_t index, const Params& params);

 private:
  struct Step {
    std::string kind;
    std::unique_ptr<Kernel<T>> kernel;
    std::unique_ptr<Kernel<T>> training_kernel;
    std::function<void()> callback;
    std::function<void(int64_t)> backward;
    int64_t feed = -1;
    // Arena elements recorded before a training forward, as runs (offset, length) of
    // contiguous elements, copied whole.
    std::vector<std::pair<int64_t, int64_t>> saved;

    Kernel<T>* active(bool training) const {
      return training && training_kernel ? training_kernel.get() : kernel.get();
    }
  };
  // A stretch of consecutive steps that runs item-parallel, or one that thread 0 runs
  // for the whole batch between two barriers.
  struct Stage {
    size_t begin, end;
    bool item_parallel;
  };
  void prepare_saved();
  // Threads an item-parallel run would use (1: run serially), and its stages.
  int item_threads(int64_t n_steps, bool training) const;
  std::vector<Stage> stages() const;
  // First item of thread t's share of the minibatch (t == team: the end).
  int64_t share_begin(int t, int team) const;
  void run_item_parallel(int threads, int64_t n_steps, const std::vector<T*>& buffers,
                         const std::vector<const T*>& feeds);
  // Probes of items [b0, b1); `written` counts the samples taken so far.
  void record_probes(const std::vector<T*>& buffers, std::vector<int64_t>& written, int64_t b0,
                     int64_t b1) const;
  void apply_feed(const VecRef& dst, const T* src, int64_t step, int64_t n_steps, int64_t b0,
                  int64_t b1);
  bool step_item_parallel(const Step& step) const;

  std::vector<T, UninitializedAllocator<T>> data_;
  std::vector<int64_t> int_data_;
  int64_t minibatch_size_;
  double dt_;
  std::string backend_;
  int64_t step_offset_;
  std::vector<Step> steps_;
  std::vector<ProbeSpec> probes_;
  std::vector<VecRef> feeds_;
  std::vector<int64_t> written_;
  int64_t completed_ = 0;
  int item_threads_used_ = 1;

  std::vector<uint8_t> written_mask_;
  bool saved_ready_ = false;
  std::vector<T> tape_;
  std::vector<T> grad_;
  // The last training run: its length (-1 when the last run was not a training run),
  // the step counter before it, and which feeds had data.
  int64_t trained_steps_ = -1;
  int64_t trained_from_ = 0;
  std::vector<char> trained_feeds_;
};

}  // namespace nengo_native
