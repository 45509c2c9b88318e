#include <pybind11/pybind11.h>

#include <Eigen/Core>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

void register_executors(py::module_& m);
void register_kernels(py::module_& m);
void register_optimizers(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "nengo_native's compiled core: the executor and its kernels.";
  // Item-parallel runs call Eigen's products from several threads at once.
  Eigen::initParallel();
  register_executors(m);
  register_kernels(m);
  register_optimizers(m);
#ifdef _OPENMP
  m.attr("openmp") = true;
  m.def("get_num_threads", []() { return omp_get_max_threads(); },
        "Number of threads the core runs on (OMP_NUM_THREADS by default).");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw py::value_error("the number of threads must be at least 1");
        omp_set_num_threads(n);
      },
      py::arg("n"),
      "Set the core's threads for simulators run from the calling Python thread.");
#else
  m.attr("openmp") = false;
  m.def("get_num_threads", []() { return 1; });
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("the number of threads must be at least 1");
  });
#endif
}
