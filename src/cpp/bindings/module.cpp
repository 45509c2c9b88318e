#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_executors(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "nengo_native's compiled core: the executor and its kernels.";
  register_executors(m);
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
}
