// Python bindings of the soft-DTW kernels: surgvlp_fast._C.dtw. Every input is checked here.
#include "soft_dtw.h"
#include "registry.h"

#include <string>

namespace {
using surgvlp::dtw::Softmin;

Softmin parse_softmin(const std::string& name) {
  if (name == "prob") return Softmin::Prob;
  if (name == "standard") return Softmin::Standard;
  TORCH_CHECK(false, "soft_dtw: softmin must be 'prob' or 'standard', got '", name, "'");
}

void check_lengths(const at::Tensor& lengths, int64_t batch, int64_t steps) {
  TORCH_CHECK(lengths.device().is_cpu() && lengths.scalar_type() == at::kLong && lengths.dim() == 1 &&
                  lengths.size(0) == batch && lengths.is_contiguous(),
              "soft_dtw: lengths must be a contiguous CPU int64 tensor of shape (B,) = (", batch, "), got ",
              lengths.scalar_type(), " of shape ", lengths.sizes());
  // The lengths index the DP table: read on the host (a CPU tensor, no device wait, no op dispatched).
  const int64_t* n = lengths.data_ptr<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    TORCH_CHECK(n[b] >= 1, "soft_dtw: every sample needs at least one valid step (sample ", b, " has ", n[b], ")");
    TORCH_CHECK(n[b] <= steps, "soft_dtw: sample ", b, " has ", n[b], " steps, more than N = ", steps);
  }
}

void check_float_cpu(const at::Tensor& t, const char* name, int64_t dims) {
  TORCH_CHECK(t.device().is_cpu(), "soft_dtw: ", name, " must be a CPU tensor, got one on ", t.device());
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, "soft_dtw: ", name,
              " must be float32 or float64, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == dims, "soft_dtw: ", name, " must have ", dims, " dimensions, got shape ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), "soft_dtw: ", name, " must be contiguous");
}

std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& cost, const at::Tensor& lengths, double gamma,
                                           const std::string& softmin, bool reverse, bool need_grad) {
  check_float_cpu(cost, "cost (B, T, N)", 3);
  TORCH_CHECK(cost.size(1) >= 1 && cost.size(2) >= 1, "soft_dtw: cost needs T >= 1 frames and N >= 1 steps, got ",
              cost.sizes());
  TORCH_CHECK(gamma > 0, "soft_dtw: gamma must be > 0, got ", gamma);
  check_lengths(lengths, cost.size(0), cost.size(2));
  return surgvlp::dtw::soft_dtw_forward(cost, lengths, gamma, parse_softmin(softmin), reverse, need_grad);
}

at::Tensor backward(const at::Tensor& local_grads, const at::Tensor& lengths, const at::Tensor& grad_values,
                    bool reverse) {
  check_float_cpu(local_grads, "local_grads (B, T, N, 3)", 4);
  TORCH_CHECK(local_grads.size(3) == 3, "soft_dtw: local_grads must be (B, T, N, 3), got ", local_grads.sizes());
  check_float_cpu(grad_values, "grad_values (B,)", 1);
  TORCH_CHECK(grad_values.size(0) == local_grads.size(0) && grad_values.scalar_type() == local_grads.scalar_type(),
              "soft_dtw: grad_values must be (B,) of the dtype of local_grads");
  check_lengths(lengths, local_grads.size(0), local_grads.size(2));
  return surgvlp::dtw::soft_dtw_backward(local_grads, lengths, grad_values, reverse);
}

void init(pybind11::module_& m) {
  m.doc() = "Soft-DTW of PeskaVLP (reference.md §4.3): CPU forward and analytical backward";
  m.def("forward", &forward, pybind11::arg("cost"), pybind11::arg("lengths"), pybind11::arg("gamma"),
        pybind11::arg("softmin"), pybind11::arg("reverse"), pybind11::arg("need_grad"),
        "cost (B,T,N), lengths (B,) → (values (B,), local derivatives (B,T,N,3))",
        pybind11::call_guard<pybind11::gil_scoped_release>());
  m.def("backward", &backward, pybind11::arg("local_grads"), pybind11::arg("lengths"),
        pybind11::arg("grad_values"), pybind11::arg("reverse"), "→ grad_cost (B,T,N)",
        pybind11::call_guard<pybind11::gil_scoped_release>());
  m.def("describe", [] {
    return std::string("soft-DTW cpu (float32/float64, 'prob' and 'standard' soft-min, OpenMP over samples)");
  });
}
}  // namespace

SURGVLP_REGISTER_SUBMODULE(dtw, init)
