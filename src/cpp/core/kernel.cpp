#include "kernel.h"

#include <set>

namespace nengo_native {

std::map<std::string, KernelSchema>& kernel_schemas() {
  static std::map<std::string, KernelSchema> schemas;
  return schemas;
}

std::vector<std::string> kernel_kinds() {
  std::vector<std::string> kinds;
  for (const auto& entry : kernel_schemas()) kinds.push_back(entry.first);
  return kinds;
}

std::vector<std::string> kernel_backends() {
  std::set<std::string> backends;
  for (const auto& entry : kernel_registry<double>()) backends.insert(entry.first.second);
  return {backends.begin(), backends.end()};
}

}  // namespace nengo_native
