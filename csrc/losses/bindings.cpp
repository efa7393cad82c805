// Python bindings of the loss kernels: surgvlp_fast._C.losses. Every input is checked here, from its
// metadata only (shapes, dtypes, devices, contiguity): nothing reads tensor values, so a call never
// waits for the device. Values need no check for memory safety: an `exclude` index outside
// [0, columns) matches no column and removes nothing. NaN / inf inputs are found by the Python API
// with SURGVLP_FAST_CHECK_VALUES=1.
#include "registry.h"
#include "contrastive.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <optional>
#include <string>

namespace surgvlp::losses {
namespace {

using OptTensor = std::optional<at::Tensor>;

at::Tensor or_undefined(const OptTensor& t) { return t.has_value() ? *t : at::Tensor(); }

void check_embeddings(const at::Tensor& x, const at::Tensor& y, c10::DeviceType device, const char* fn) {
  for (const auto& [t, name] : {std::pair{&x, "x"}, std::pair{&y, "y"}}) {
    TORCH_CHECK(t->dim() == 2, fn, ": ", name, " must be a 2-D (rows, dim) tensor, got shape ", t->sizes());
    const auto type = t->scalar_type();
    TORCH_CHECK(type == at::kFloat || type == at::kDouble || type == at::kHalf || type == at::kBFloat16, fn, ": ",
                name, " must be float32, float64, float16 or bfloat16, got ", type);
    TORCH_CHECK(t->device().type() == device, fn, ": ", name, " must be a ", c10::DeviceTypeName(device),
                " tensor, got one on ", t->device());
    TORCH_CHECK(t->is_contiguous(), fn, ": ", name, " must be contiguous (call .contiguous())");
    TORCH_CHECK(t->size(0) > 0 && t->size(1) > 0, fn, ": ", name, " is empty (shape ", t->sizes(), ")");
  }
  TORCH_CHECK(x.scalar_type() == y.scalar_type(), fn, ": x and y must have the same dtype, got ", x.scalar_type(),
              " and ", y.scalar_type());
  TORCH_CHECK(x.device() == y.device(), fn, ": x and y must be on the same device, got ", x.device(), " and ",
              y.device());
  TORCH_CHECK(x.size(1) == y.size(1), fn, ": x and y must have the same embedding width, got ", x.size(1), " and ",
              y.size(1));
}

void check_options(const at::Tensor& x, const at::Tensor& y, double scale, const at::Tensor& exclude,
                   const char* fn) {
  TORCH_CHECK(std::isfinite(scale) && scale != 0.0, fn, ": scale must be finite and non-zero, got ", scale);
  if (!exclude.defined()) return;
  TORCH_CHECK(exclude.scalar_type() == at::kLong && exclude.dim() == 1 && exclude.size(0) == x.size(0), fn,
              ": exclude must be an int64 vector of one column index per row (", x.size(0), "), got ",
              exclude.scalar_type(), " of shape ", exclude.sizes());
  TORCH_CHECK(exclude.device() == x.device(), fn, ": exclude must be on ", x.device(), ", got ", exclude.device());
  TORCH_CHECK(exclude.is_contiguous(), fn, ": exclude must be contiguous");
  TORCH_CHECK(y.size(0) >= 2, fn, ": exclude needs at least 2 columns, or a row has nothing left");
}

void check_statistic(const at::Tensor& t, int64_t n, const at::Tensor& x, const char* name, const char* fn) {
  TORCH_CHECK(t.dim() == 1 && t.size(0) == n, fn, ": ", name, " must have shape (", n, "), got ", t.sizes());
  TORCH_CHECK(t.is_floating_point(), fn, ": ", name, " must be floating point, got ", t.scalar_type());
  TORCH_CHECK(t.device() == x.device(), fn, ": ", name, " must be on ", x.device(), ", got ", t.device());
}

using Forward = std::tuple<at::Tensor, at::Tensor> (*)(const at::Tensor&, const at::Tensor&, double, bool, bool,
                                                       const at::Tensor&);
using Backward = std::tuple<at::Tensor, at::Tensor> (*)(const at::Tensor&, const at::Tensor&, double,
                                                        const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                        const at::Tensor&, const at::Tensor&);

template <Forward kernel, c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor> checked_forward(const at::Tensor& x, const at::Tensor& y, double scale,
                                                   bool want_row, bool want_col, const OptTensor& exclude) {
  const char* fn = "lse_forward";
  check_embeddings(x, y, device, fn);
  check_options(x, y, scale, or_undefined(exclude), fn);
  TORCH_CHECK(want_row || want_col, fn, ": ask for the row statistics, the column statistics or both");
  return kernel(x, y, scale, want_row, want_col, or_undefined(exclude));
}

template <Backward kernel, c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor> checked_backward(const at::Tensor& x, const at::Tensor& y, double scale,
                                                    const OptTensor& row_lse,
                                                    const OptTensor& col_lse, const OptTensor& grad_row,
                                                    const OptTensor& grad_col, const OptTensor& exclude) {
  const char* fn = "lse_backward";
  check_embeddings(x, y, device, fn);
  check_options(x, y, scale, or_undefined(exclude), fn);
  if (grad_row.has_value()) {
    TORCH_CHECK(row_lse.has_value(), fn, ": grad_row given without row_lse");
    check_statistic(*row_lse, x.size(0), x, "row_lse", fn);
    check_statistic(*grad_row, x.size(0), x, "grad_row", fn);
  }
  if (grad_col.has_value()) {
    TORCH_CHECK(col_lse.has_value(), fn, ": grad_col given without col_lse");
    check_statistic(*col_lse, y.size(0), x, "col_lse", fn);
    check_statistic(*grad_col, y.size(0), x, "grad_col", fn);
  }
  return kernel(x, y, scale, or_undefined(row_lse), or_undefined(col_lse), or_undefined(grad_row),
                or_undefined(grad_col), or_undefined(exclude));
}

std::string describe() {
  std::string text = "fused contrastive log-sum-exp kernels: cpu (ATen + OpenMP, " +
                     std::to_string(at::get_num_threads()) + " threads)";
#ifdef SURGVLP_WITH_CUDA
  text += ", cuda (compiled)";
#else
  text += ", cuda not compiled (SURGVLP_FAST_BUILD_CUDA=1 to build it)";
#endif
  return text;
}

void init(pybind11::module_& m) {
  namespace py = pybind11;
  m.doc() = "Fused log-sum-exp statistics of S = scale * x @ y.T for the contrastive losses";
  const char* forward_doc =
      "lse_forward(x, y, scale, want_row, want_col, exclude=None) -> (row_lse, per-column col_lse)";
  const char* backward_doc =
      "lse_backward(x, y, scale, row_lse, col_lse, grad_row, grad_col, exclude=None) -> (dx, dy)";
  m.def("lse_forward", &checked_forward<lse_forward_cpu, c10::DeviceType::CPU>, forward_doc, py::arg("x"),
        py::arg("y"), py::arg("scale"), py::arg("want_row"), py::arg("want_col"),
        py::arg("exclude") = py::none());
  m.def("lse_backward", &checked_backward<lse_backward_cpu, c10::DeviceType::CPU>, backward_doc, py::arg("x"),
        py::arg("y"), py::arg("scale"), py::arg("row_lse"), py::arg("col_lse"),
        py::arg("grad_row"), py::arg("grad_col"), py::arg("exclude") = py::none());
#ifdef SURGVLP_WITH_CUDA
  m.def("lse_forward_cuda", &checked_forward<lse_forward_cuda, c10::DeviceType::CUDA>, forward_doc, py::arg("x"),
        py::arg("y"), py::arg("scale"), py::arg("want_row"), py::arg("want_col"),
        py::arg("exclude") = py::none());
  m.def("lse_backward_cuda", &checked_backward<lse_backward_cuda, c10::DeviceType::CUDA>, backward_doc,
        py::arg("x"), py::arg("y"), py::arg("scale"), py::arg("row_lse"), py::arg("col_lse"),
        py::arg("grad_row"), py::arg("grad_col"), py::arg("exclude") = py::none());
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
  m.def("describe", &describe);
}

}  // namespace
}  // namespace surgvlp::losses

SURGVLP_REGISTER_SUBMODULE(losses, surgvlp::losses::init)
