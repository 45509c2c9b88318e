// The kernel interface and the registry that maps a Program step's (kind, backend) to its
// factory and its kind to its schema.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "params.h"
#include "refs.h"
#include "schema.h"

namespace nengo_native {

// What a kernel sees while it runs: the arena (float state and parameters), the integer
// arena (step counter), the run's constants, and the minibatch items [item_begin,
// item_end) this call is for. Only a kernel whose item_parallel() is true is ever called
// with fewer than all items; the others may ignore the range.
template <typename T>
struct Context {
  T* data;
  int64_t* int_data;
  int64_t minibatch_size;
  double dt;
  int64_t item_begin, item_end;

  bool all_items() const { return item_begin == 0 && item_end == minibatch_size; }
  int64_t items() const { return item_end - item_begin; }
};

// What a factory needs to validate its parameters against, once, at construction.
struct Shape {
  int64_t arena_size;
  int64_t int_arena_size;
  int64_t minibatch_size;
  double dt;
};

// OpenMP pays off only for enough work. Idle threads sleep at barriers (see the
// package's __init__): waking one took ~50-100 us on a 2-core VM, and spinning instead
// made steps 10x slower whenever other processes ran. So a group runs serially below
// about 0.3 ms of work. Work is counted in multiply-adds (about 0.3 ns each); other
// kernels scale their counts to that unit (see kNeuronWork).
constexpr int64_t kParallelThreshold = 1 << 20;
// A point neuron's update costs about as much as this many multiply-adds (LIF, with its
// occasional expm1/log1p, measured at ~7 ns per neuron).
constexpr int64_t kNeuronWork = 16;
// An item-parallel run (see Executor::run) meets at a few barriers per step, a few
// microseconds each, and wakes its threads once per run: it pays from about 20 us of
// item-parallel work per step, and a run of at least about 0.3 ms of such work.
constexpr int64_t kItemParallelWork = 1 << 16;

template <typename T>
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void forward(const Context<T>& ctx) = 0;
  // Restore internal state (not held in the arena) to its initial value.
  virtual void reset() {}
  // Whether forward() may run on a part of the minibatch ([ctx.item_begin,
  // ctx.item_end)) while other threads run the rest: it then writes only those items'
  // elements, reads no other item's, and keeps no scratch two calls could share. The
  // executor then runs a whole stretch of such kernels item-parallel, one barrier per
  // stretch instead of one per kernel (see Executor::run).
  virtual bool item_parallel() const { return false; }
  // The kernel's work per step in multiply-adds (see kParallelThreshold): what decides
  // whether splitting a run over threads pays. Kernels that do not count report a lot.
  virtual int64_t work() const { return kParallelThreshold; }
  // Replace the seed-dependent part of the parameters (random generator states, tables
  // drawn at make_step) when the simulator is reset with a new seed; it also becomes what
  // reset() restores. Only kernels whose schema declares state parameters get called.
  virtual void set_params(const Params&) {
    throw std::invalid_argument("this kernel has no seed-dependent parameters");
  }

  // Training (reverse mode). forward() maps the arena onto itself; backward() applies the
  // transpose of that map's Jacobian to the adjoint `grad` (same layout as the arena): on
  // entry `grad` holds d(loss)/d(arena after forward), on return d(loss)/d(arena before).
  // An element forward() sets gets adjoint 0; inputs accumulate (+=), so parameters
  // shared by the batch (bstride 0) receive the sum over items.
  //
  // backward() may read from ctx.data only the regions saved() lists (expanded over the
  // batch like any VecRef) and constants: the executor records those regions just before
  // forward() and writes them back just before backward(). Everything else in ctx.data is
  // stale by then.
  virtual bool differentiable() const { return false; }
  virtual std::vector<VecRef> saved() const { return {}; }
  virtual void backward(const Context<T>& /*ctx*/, T* /*grad*/) {
    throw std::logic_error("this kernel has no backward pass");
  }
};

template <typename T>
using KernelFactory = std::function<std::unique_ptr<Kernel<T>>(const Params&, const Shape&)>;

// The backend every kernel has. A backend is a set of kernel implementations over the
// same Program (the same kinds, schemas and arena layout); a CUDA one would register its
// factories under "cuda" beside these.
constexpr const char* kCpuBackend = "cpu";

// (kind, backend) -> factory. Schemas are per kind: every backend honours the same one.
using KernelKey = std::pair<std::string, std::string>;

template <typename T>
std::map<KernelKey, KernelFactory<T>>& kernel_registry() {
  static std::map<KernelKey, KernelFactory<T>> registry;
  return registry;
}

std::map<std::string, KernelSchema>& kernel_schemas();

// The kinds with a schema, and the backends some kernel is registered for.
std::vector<std::string> kernel_kinds();
std::vector<std::string> kernel_backends();

// Builds a `kind` kernel of `backend` after checking `params` against the kind's schema.
template <typename T>
std::unique_ptr<Kernel<T>> make_kernel(const std::string& kind, const std::string& backend,
                                       const Params& params, const Shape& shape) {
  const auto& schemas = kernel_schemas();
  const auto schema = schemas.find(kind);
  if (schema == schemas.end()) throw std::invalid_argument("unknown kernel kind '" + kind + "'");
  schema->second.check(kind, params);
  auto& reg = kernel_registry<T>();
  const auto it = reg.find({kind, backend});
  if (it == reg.end())
    throw std::invalid_argument("kernel '" + kind + "' has no '" + backend + "' implementation");
  return it->second(params, shape);
}

// Registers a CPU kernel class template `K<T>`, constructed from (Params, Shape, extra...),
// for float and double under `kind`, with the kind's schema; `extra` lets one class serve
// several kinds (a spike generator, a convolution's direction). Used once per kind at
// namespace scope in the kernel's source file.
template <template <typename> class K, typename... Extra>
struct KernelRegistration {
  KernelRegistration(const std::string& kind, KernelSchema schema, Extra... extra) {
    kernel_schemas()[kind] = std::move(schema);
    kernel_registry<float>()[{kind, kCpuBackend}] = [=](const Params& p, const Shape& s) {
      return std::unique_ptr<Kernel<float>>(std::make_unique<K<float>>(p, s, extra...));
    };
    kernel_registry<double>()[{kind, kCpuBackend}] = [=](const Params& p, const Shape& s) {
      return std::unique_ptr<Kernel<double>>(std::make_unique<K<double>>(p, s, extra...));
    };
  }
};

#define NENGO_NATIVE_CONCAT_(a, b) a##b
#define NENGO_NATIVE_CONCAT(a, b) NENGO_NATIVE_CONCAT_(a, b)
#define REGISTER_KERNEL(kind, K, schema)                                            \
  static ::nengo_native::KernelRegistration<K> NENGO_NATIVE_CONCAT(kernel_registration_, \
                                                                  __LINE__)(kind, schema)
// REGISTER_KERNEL for a class that takes one more constructor argument of type `Arg`.
#define REGISTER_KERNEL_WITH(kind, K, schema, Arg, arg)                                    \
  static ::nengo_native::KernelRegistration<K, Arg> NENGO_NATIVE_CONCAT(kernel_registration_, \
                                                                       __LINE__)(kind, schema, arg)

}  // namespace nengo_native
