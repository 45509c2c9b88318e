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
  // Offsets of a ragged array (CSR style): non-decreasing from 0 to `total`, so every
  // slice [a[i], a[i+1]) is a valid range; `count` slices when `count` is given.
  const std::vector<int64_t>& offsets(const std::string& name, int64_t total,
                                      int64_t count = -1) const {
    const auto& a = count < 0 ? int_array(name) : int_array(name, static_cast<size_t>(count) + 1);
    const auto fail = [&](const std::string& why) {
      throw std::invalid_argument("parameter '" + name + "' " + why);
    };
    if (a.empty() || a.front() != 0) fail("must start at 0");
    for (size_t i = 1; i < a.size(); ++i)
      if (a[i] < a[i - 1]) fail("must not decrease");
    if (total >= 0 && a.back() != total)
      fail("must end at " + std::to_string(total) + ", not " + std::to_string(a.back()));
    return a;
  }
  int64_t integer(const std::string& name) const { return int_array(name, 1)[0]; }
  double real(const std::string& name) const { return real_array(name, 1)[0]; }
  bool has(const std::string& name) const { return ints.count(name) || reals.count(name); }
};

}  // namespace nengo_native
