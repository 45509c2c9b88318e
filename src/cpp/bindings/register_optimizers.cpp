// Bindings for the optimizer updates: array checks and dtype dispatch only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "../kernels/optimizers.h"

namespace py = pybind11;

namespace {

// The array's data as a flat vector of `size` elements of T, after checking that it is
// one (and, unless it is only read, writeable); an absent optional array gives nullptr.
template <typename T>
T* flat(const std::optional<py::array>& arr, const char* name, py::ssize_t size,
        bool read_only = false) {
  if (!arr) return nullptr;
  if (!py::isinstance<py::array_t<T>>(*arr))
    throw py::type_error(std::string(name) + " must have the parameter's dtype");
  if (!(arr->flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous");
  if (!read_only && !arr->writeable())
    throw py::value_error(std::string(name) + " must be writeable");
  if (arr->size() != size)
    throw py::value_error(std::string(name) + " must have as many elements as the parameter");
  return static_cast<T*>(const_cast<void*>(arr->data()));
}

// Calls update<T> for the parameter's dtype (float32 or float64).
template <typename Update>
void dispatch(const py::array& param, Update&& update) {
  if (py::isinstance<py::array_t<float>>(param))
    update(float{});
  else if (py::isinstance<py::array_t<double>>(param))
    update(double{});
  else
    throw py::type_error("optimizer updates need float32 or float64 parameters");
}

}  // namespace

void register_optimizers(py::module_& m) {
  using nengo_native::adam_update;
  using nengo_native::rmsprop_update;
  using nengo_native::sgd_update;
  m.def(
      "sgd_update",
      [](py::array param, py::array grad, std::optional<py::array> velocity, double lr,
         double momentum, bool nesterov) {
        dispatch(param, [&](auto zero) {
          using T = decltype(zero);
          const auto n = param.size();
          sgd_update<T>(flat<T>(param, "param", n), flat<T>(grad, "grad", n, true),
                        flat<T>(velocity, "velocity", n), n, static_cast<T>(lr),
                        static_cast<T>(momentum), nesterov);
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("velocity"), py::arg("lr"),
      py::arg("momentum"), py::arg("nesterov"));
  m.def(
      "adam_update",
      [](py::array param, py::array grad, py::array m, py::array v, double one_minus_beta_1,
         double one_minus_beta_2, double alpha, double epsilon) {
        dispatch(param, [&](auto zero) {
          using T = decltype(zero);
          const auto n = param.size();
          adam_update<T>(flat<T>(param, "param", n), flat<T>(grad, "grad", n, true),
                         flat<T>(m, "m", n), flat<T>(v, "v", n), n,
                         static_cast<T>(one_minus_beta_1), static_cast<T>(one_minus_beta_2),
                         static_cast<T>(alpha), static_cast<T>(epsilon));
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("m"), py::arg("v"),
      py::arg("one_minus_beta_1"), py::arg("one_minus_beta_2"), py::arg("alpha"),
      py::arg("epsilon"));
  m.def(
      "rmsprop_update",
      [](py::array param, py::array grad, py::array s, std::optional<py::array> w, double lr,
         double one_minus_rho, double momentum, double epsilon) {
        dispatch(param, [&](auto zero) {
          using T = decltype(zero);
          const auto n = param.size();
          rmsprop_update<T>(flat<T>(param, "param", n), flat<T>(grad, "grad", n, true),
                            flat<T>(s, "s", n), flat<T>(w, "w", n), n, static_cast<T>(lr),
                            static_cast<T>(one_minus_rho), static_cast<T>(momentum),
                            static_cast<T>(epsilon));
        });
      },
      py::arg("param"), py::arg("grad"), py::arg("s"), py::arg("w"), py::arg("lr"),
      py::arg("one_minus_rho"), py::arg("momentum"), py::arg("epsilon"));
}
