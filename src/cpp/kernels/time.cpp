#include "time.h"

#include <stdexcept>

namespace nengo_native {

template <typename T>
TimeUpdateKernel<T>::TimeUpdateKernel(const Params& p, const Shape& s)
    : step_off_(p.integer("step_off")), time_off_(p.integer("time_off")) {
  if (step_off_ < 0 || step_off_ >= s.int_arena_size)
    throw std::out_of_range("time_update: step counter outside the integer arena");
  if (time_off_ < 0 || time_off_ >= s.arena_size)
    throw std::out_of_range("time_update: time outside the arena");
}

template <typename T>
void TimeUpdateKernel<T>::forward(const Context<T>& ctx) {
  const int64_t step = ++ctx.int_data[step_off_];
  // nengo computes `step * dt` in float64 before storing into the time signal.
  ctx.data[time_off_] = static_cast<T>(static_cast<double>(step) * ctx.dt);
}

// The planner gives every step a `chain_ptr`; one clock has no chains to read.
REGISTER_KERNEL("time_update", TimeUpdateKernel,
                KernelSchema().int_scalar("step_off").int_scalar("time_off").chains(false));

}  // namespace nengo_native
