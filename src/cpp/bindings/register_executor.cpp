// Bindings for the executor: argument conversion only.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include <string>

#include "../core/executor.h"
#include "../core/kernel.h"

namespace py = pybind11;
using nengo_native::Executor;
using nengo_native::Params;

namespace {

Params to_params(const py::dict& d) {
  Params p;
  for (auto item : d) {
    const std::string name = py::cast<std::string>(item.first);
    py::array arr = py::array::ensure(item.second);
    if (!arr) throw py::type_error("parameter '" + name + "' is not array-like");
    const char kind = arr.dtype().kind();
    if (kind == 'i' || kind == 'u' || kind == 'b') {
      auto a = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
      p.ints[name].assign(a.data(), a.data() + a.size());
    } else if (kind == 'f') {
      auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
      p.reals[name].assign(a.data(), a.data() + a.size());
    } else {
      throw py::type_error("parameter '" + name + "' has unsupported dtype");
    }
  }
  return p;
}

template <typename T>
void register_executor(py::module_& m, const char* name) {
  using Exec = Executor<T>;
  py::class_<Exec>(m, name)
      .def(py::init<int64_t, int64_t, int64_t, double, int64_t, std::string>(),
           py::arg("arena_size"), py::arg("int_arena_size"), py::arg("minibatch_size"), py::arg("dt"),
           py::arg("step_offset"), py::arg("backend") = nengo_native::kCpuBackend)
      .def_property_readonly(
          "arena",
          [](py::object self) {
            Exec& e = self.cast<Exec&>();
            return py::array_t<T>({e.arena_size()}, {sizeof(T)}, e.data(), self);
          })
      .def_property_readonly(
          "int_arena",
          [](py::object self) {
            Exec& e = self.cast<Exec&>();
            return py::array_t<int64_t>({e.int_arena_size()}, {sizeof(int64_t)}, e.int_data(),
                                        self);
          })
      .def_property_readonly("minibatch_size", &Exec::minibatch_size)
      .def_property_readonly("backend", &Exec::backend)
      .def_property_readonly("n_kernels", &Exec::n_kernels)
      .def(
          "add_kernel",
          [](Exec& e, const std::string& kind, const py::dict& params,
             std::optional<std::string> training_kind, std::optional<py::dict> training_params) {
            Params training;
            if (training_kind && training_params) training = to_params(*training_params);
            e.add_kernel(kind, to_params(params), training_kind.value_or(""), training);
          },
          py::arg("kind"), py::arg("params"), py::arg("training_kind") = py::none(),
          py::arg("training_params") = py::none())
      .def(
          "add_callback",
          [](Exec& e, py::function fn, std::optional<py::function> backward) {
            // Keep the callables alive in the C++ step list; they run with the GIL held.
            auto holder = std::make_shared<py::function>(std::move(fn));
            std::function<void(int64_t)> reverse;
            if (backward) {
              auto back = std::make_shared<py::function>(std::move(*backward));
              reverse = [back](int64_t n) {
                py::gil_scoped_acquire gil;
                (*back)(n);
              };
            }
            e.add_callback(
                [holder]() {
                  py::gil_scoped_acquire gil;
                  (*holder)();
                },
                std::move(reverse));
          },
          py::arg("fn"), py::arg("backward") = py::none())
      .def(
          "add_probe",
          [](Exec& e, int64_t off, int64_t rows, int64_t cols, int64_t rstride, int64_t cstride,
             int64_t bstride, double period) {
            e.add_probe({{off, rows, cols, rstride, cstride, bstride}, period});
          },
          py::arg("off"), py::arg("rows"), py::arg("cols"), py::arg("rstride"),
          py::arg("cstride"), py::arg("bstride"), py::arg("period"))
      .def("samples_in", &Exec::samples_in, py::arg("probe"), py::arg("n_steps"))
      .def(
          "add_feed",
          [](Exec& e, int64_t off, int64_t n, int64_t stride, int64_t bstride) {
            return e.add_feed({off, n, stride, bstride});
          },
          py::arg("off"), py::arg("n"), py::arg("stride"), py::arg("bstride"))
      .def(
          "run",
          [](Exec& e, int64_t n_steps, const std::vector<py::array_t<T>>& buffers,
             const std::vector<std::optional<py::array_t<T>>>& feeds, bool training) {
            if (buffers.size() != e.n_probes())
              throw py::value_error("expected one buffer per probe");
            if (feeds.size() != e.n_feeds()) throw py::value_error("expected one entry per feed");
            std::vector<T*> ptrs;
            for (size_t i = 0; i < buffers.size(); ++i) {
              const auto& buf = buffers[i];
              if (!(buf.flags() & py::array::c_style) || !buf.writeable())
                throw py::value_error("probe buffers must be writeable and C-contiguous");
              if (buf.size() < e.samples_in(i, n_steps) * e.sample_size(i))
                throw py::value_error("probe buffer too small for this run");
              ptrs.push_back(const_cast<T*>(buf.data()));
            }
            std::vector<const T*> feed_ptrs;
            for (size_t i = 0; i < feeds.size(); ++i) {
              if (!feeds[i]) {
                feed_ptrs.push_back(nullptr);
                continue;
              }
              const auto& buf = *feeds[i];
              if (!(buf.flags() & py::array::c_style) ||
                  buf.size() != e.minibatch_size() * n_steps * e.feed_size(i))
                throw py::value_error("feed data must be C-contiguous (batch, n_steps, size)");
              feed_ptrs.push_back(buf.data());
            }
            py::gil_scoped_release release;
            e.run(n_steps, ptrs, feed_ptrs, training);
          },
          py::arg("n_steps"), py::arg("buffers"), py::arg("feeds"), py::arg("training") = false)
      .def(
          "set_written",
          [](Exec& e, py::array_t<uint8_t, py::array::c_style | py::array::forcecast> mask) {
            e.set_written(std::vector<uint8_t>(mask.data(), mask.data() + mask.size()));
          },
          py::arg("mask"))
      .def("non_differentiable_steps", &Exec::non_differentiable_steps)
      .def(
          "backward",
          [](Exec& e, const std::vector<std::optional<py::array_t<T>>>& probe_grads) {
            if (probe_grads.size() != e.n_probes())
              throw py::value_error("expected one gradient entry per probe");
            std::vector<const T*> ptrs;
            for (size_t i = 0; i < probe_grads.size(); ++i) {
              if (!probe_grads[i]) {
                ptrs.push_back(nullptr);
                continue;
              }
              const auto& buf = *probe_grads[i];
              if (!(buf.flags() & py::array::c_style) ||
                  buf.size() != e.samples_written().at(i) * e.sample_size(i))
                throw py::value_error(
                    "probe gradient must be C-contiguous and shaped like that probe's samples");
              ptrs.push_back(buf.data());
            }
            py::gil_scoped_release release;
            e.backward(ptrs);
          },
          py::arg("probe_grads"))
      .def_property_readonly(
          "grad",
          [](py::object self) {
            Exec& e = self.cast<Exec&>();
            if (!e.grad()) throw py::value_error("no gradient before set_written()");
            return py::array_t<T>({e.arena_size()}, {sizeof(T)}, e.grad(), self);
          })
      .def_property_readonly("samples_written", &Exec::samples_written)
      .def_property_readonly("steps_completed", &Exec::steps_completed)
      .def_property_readonly("item_threads", &Exec::item_threads_used)
      .def("reset_kernels", &Exec::reset_kernels)
      .def(
          "set_kernel_params",
          [](Exec& e, size_t index, const py::dict& params) {
            e.set_kernel_params(index, to_params(params));
          },
          py::arg("index"), py::arg("params"));
}

}  // namespace

void register_executors(py::module_& m) {
  register_executor<double>(m, "Executor64");
  register_executor<float>(m, "Executor32");
}
