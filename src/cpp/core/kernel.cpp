#include "kernel.h"

namespace nengo_native {

std::vector<std::string> kernel_kinds() {
  std::vector<std::string> kinds;
  for (const auto& entry : kernel_registry<double>()) kinds.push_back(entry.first);
  return kinds;
}

}  // namespace nengo_native
