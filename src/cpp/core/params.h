// Kernel parameters as plain named arrays: the Program's wire format.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace nengo_native {

class Params {
 public:
  std::unordered_map<std::string, std::vector<int64_t>> ints;
  std::unordered_map<std::string, std::vector<double>> reals;

  const std::vector<int64_t>& int_array(const std::string& name) const {
    auto it = ints.find(name);
    if (it == ints.end()) throw std::invalid_argument("missing integer parameter '" + name + "'");
    return it->second;
  }
  const std::vector<double>& real_array(const std::string& name) const {
    auto it = reals.find(name);
    if (it == reals.end()) throw std::invalid_argument("missing real parameter '" + name + "'");
    return it->second;
  }
  // Integer array of exactly `size` elements (a per-item field of a ragged group).
  const std::vector<int64_t>& int_array(const std::string& name, size_t size) const {
    const auto& a = int_array(name);
    if (a.size() != size)
      throw std::invalid_argument("parameter '" + name + "' has " + std::to_string(a.size()) +
                                  " entries, expected " + std::to_string(size));
    return a;
  }
  const std::vector<double>& real_array(const std::string& name, size_t size) const {
    const auto& a = real_array(name);
    if (a.size() != size)
      throw std::invalid_argument("parameter '" + name + "' has " + std::to_string(a.size()) +
                                  " entries, expected " + std::to_string(size));
    return a;
  }
  int64_t integer(const std::string& name) const { return int_array(name, 1)[0]; }
  double real(const std::string& name) const { return real_array(name, 1)[0]; }
  bool has(const std::string& name) const { return ints.count(name) || reals.count(name); }
};

}  // namespace nengo_native
