#include "schema.h"

#include <stdexcept>

#include "refs.h"

namespace nengo_native {

KernelSchema& KernelSchema::add(const std::string& name, ParamType type, bool required,
                                bool scalar) {
  if (find(name)) throw std::logic_error("parameter '" + name + "' declared twice");
  params_.push_back({name, type, required, scalar});
  return *this;
}

KernelSchema& KernelSchema::ints(std::initializer_list<const char*> names) {
  for (const char* n : names) add(n, ParamType::Int, true, false);
  return *this;
}

KernelSchema& KernelSchema::reals(std::initializer_list<const char*> names) {
  for (const char* n : names) add(n, ParamType::Real, true, false);
  return *this;
}

KernelSchema& KernelSchema::optional_ints(std::initializer_list<const char*> names) {
  for (const char* n : names) add(n, ParamType::Int, false, false);
  return *this;
}

KernelSchema& KernelSchema::optional_reals(std::initializer_list<const char*> names) {
  for (const char* n : names) add(n, ParamType::Real, false, false);
  return *this;
}

KernelSchema& KernelSchema::int_scalar(const char* name) {
  return add(name, ParamType::Int, true, true);
}

KernelSchema& KernelSchema::vecs(std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    for (const char* field : kVecFields) add(std::string(p) + "_" + field, ParamType::Int, true, false);
  return *this;
}

KernelSchema& KernelSchema::mats(std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    for (const char* field : kMatFields) add(std::string(p) + "_" + field, ParamType::Int, true, false);
  return *this;
}

KernelSchema& KernelSchema::chains(bool required) {
  return add("chain_ptr", ParamType::Int, required, false);
}

KernelSchema& KernelSchema::state(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (!find(n)) throw std::logic_error(std::string("state parameter '") + n + "' undeclared");
    state_.push_back(n);
  }
  return *this;
}

const ParamSpec* KernelSchema::find(const std::string& name) const {
  for (const ParamSpec& s : params_)
    if (s.name == name) return &s;
  return nullptr;
}

namespace {

void check_names(const std::string& kind, const Params& p,
                 const std::vector<const ParamSpec*>& allowed, const char* what) {
  const auto lookup = [&](const std::string& name) -> const ParamSpec* {
    for (const ParamSpec* s : allowed)
      if (s->name == name) return s;
    return nullptr;
  };
  const auto check_one = [&](const std::string& name, ParamType given) {
    const ParamSpec* spec = lookup(name);
    if (!spec)
      throw std::invalid_argument("kernel '" + kind + "' has no " + what + " '" + name + "'");
    if (spec->type != given)
      throw std::invalid_argument("kernel '" + kind + "': parameter '" + name + "' must be " +
                                  (spec->type == ParamType::Int ? "an integer" : "a real") +
                                  " array");
  };
  for (const auto& entry : p.ints) check_one(entry.first, ParamType::Int);
  for (const auto& entry : p.reals) check_one(entry.first, ParamType::Real);
}

}  // namespace

void KernelSchema::check(const std::string& kind, const Params& p) const {
  std::vector<const ParamSpec*> all;
  for (const ParamSpec& s : params_) all.push_back(&s);
  check_names(kind, p, all, "parameter");
  for (const ParamSpec& s : params_)
    if (s.required && !p.has(s.name))
      throw std::invalid_argument("kernel '" + kind + "' needs parameter '" + s.name + "'");
}

void KernelSchema::check_state(const std::string& kind, const Params& p) const {
  if (state_.empty())
    throw std::invalid_argument("kernel '" + kind + "' has no seed-dependent parameters");
  std::vector<const ParamSpec*> state;
  for (const std::string& n : state_) state.push_back(find(n));
  check_names(kind, p, state, "state parameter");
  for (const std::string& n : state_)
    if (!p.has(n))
      throw std::invalid_argument("kernel '" + kind + "' needs state parameter '" + n + "'");
}

std::map<std::string, ConstantTable>& constant_tables() {
  static std::map<std::string, ConstantTable> tables;
  return tables;
}

}  // namespace nengo_native
