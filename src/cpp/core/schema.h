// A kernel's schema: the parameters its factory reads and what set_params() accepts. It is
// the Python-C++ contract made explicit: the executor checks every Program step against it
// once, at the border, and Python reads it (kernel_schemas()) to check the planner.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "params.h"

namespace nengo_native {

// What Params tells apart: integer or real arrays. A scalar is an array of one element.
enum class ParamType { Int, Real };

struct ParamSpec {
  std::string name;
  ParamType type;
  bool required;
  bool scalar;
};

class KernelSchema {
 public:
  // Required integer / real arrays.
  KernelSchema& ints(std::initializer_list<const char*> names);
  KernelSchema& reals(std::initializer_list<const char*> names);
  // Arrays a kernel reads only when present (it has a default).
  KernelSchema& optional_ints(std::initializer_list<const char*> names);
  KernelSchema& optional_reals(std::initializer_list<const char*> names);
  KernelSchema& int_scalar(const char* name);
  // The ragged fields read_vec_refs / read_mat_refs read for each prefix.
  KernelSchema& vecs(std::initializer_list<const char*> prefixes);
  KernelSchema& mats(std::initializer_list<const char*> prefixes);
  // `chain_ptr` (see parallel.h); `required` is false for kernels that never read it.
  KernelSchema& chains(bool required = true);
  // Parameters set_params() accepts (seed-dependent ones, already declared above).
  KernelSchema& state(std::initializer_list<const char*> names);

  KernelSchema& add(const std::string& name, ParamType type, bool required, bool scalar);

  const std::vector<ParamSpec>& params() const { return params_; }
  const std::vector<std::string>& state_names() const { return state_; }
  const ParamSpec* find(const std::string& name) const;

  // Throws std::invalid_argument naming `kind` and the parameter when `p` holds a name the
  // schema does not declare, lacks a required one or has one of the wrong type.
  void check(const std::string& kind, const Params& p) const;
  // The same for set_params(): only state parameters, and all of them.
  void check_state(const std::string& kind, const Params& p) const;

 private:
  std::vector<ParamSpec> params_;
  std::vector<std::string> state_;
};

// Named integer codes shared with Python (a kernel's enum values), exported by the module
// as dicts: Python reads them instead of repeating the numbers.
using ConstantTable = std::map<std::string, int64_t>;
std::map<std::string, ConstantTable>& constant_tables();

// Registers a table at namespace scope, next to the enum it names.
struct ConstantsRegistration {
  ConstantsRegistration(const std::string& name, ConstantTable table) {
    constant_tables()[name] = std::move(table);
  }
};

}  // namespace nengo_native
