// Bindings for the kernel registry: schemas and shared constants, converted to dicts.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "../core/kernel.h"
#include "../core/schema.h"

namespace py = pybind11;

namespace {

py::dict schema_dict(const std::string& kind, const nengo_native::KernelSchema& schema) {
  py::dict params;
  for (const auto& spec : schema.params()) {
    py::dict d;
    d["kind"] = spec.type == nengo_native::ParamType::Int ? "int" : "real";
    d["required"] = spec.required;
    d["scalar"] = spec.scalar;
    params[py::str(spec.name)] = d;
  }
  py::list backends;
  for (const auto& entry : nengo_native::kernel_registry<double>())
    if (entry.first.first == kind) backends.append(entry.first.second);
  py::dict out;
  out["params"] = params;
  out["state"] = schema.state_names();
  out["backends"] = backends;
  return out;
}

}  // namespace

void register_kernels(py::module_& m) {
  m.def("kernel_kinds", &nengo_native::kernel_kinds);
  m.def("kernel_backends", &nengo_native::kernel_backends);
  m.def("kernel_schemas", []() {
    py::dict out;
    for (const auto& entry : nengo_native::kernel_schemas())
      out[py::str(entry.first)] = schema_dict(entry.first, entry.second);
    return out;
  });
  for (const auto& table : nengo_native::constant_tables())
    m.attr(table.first.c_str()) = table.second;
}
