// Python bindings of the clip-level augmentation: surgvlp_fast._C.augment. Every input is checked here.
#include "clip_augment.h"
#include "registry.h"

namespace {

void check(const at::Tensor& t, const char* name, at::ScalarType type, std::vector<int64_t> shape) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == type && t.is_contiguous(), "clip_augment: ", name,
              " must be a contiguous CPU ", type, " tensor, got ", t.scalar_type(), " on ", t.device());
  TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), "clip_augment: ", name, " must have shape ", shape, ", got ",
              t.sizes());
}

at::Tensor clip_augment(const at::Tensor& frames, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                        const at::Tensor& order, const at::Tensor& factors, const at::Tensor& gray,
                        const at::Tensor& radius, const at::Tensor& sigma, const at::Tensor& flip,
                        const at::Tensor& scale, const at::Tensor& bias) {
  TORCH_CHECK(frames.dim() == 4 && frames.size(1) == 3, "clip_augment: frames must be (N, 3, H, W), got ",
              frames.sizes());
  const int64_t n = frames.size(0), h = frames.size(2), w = frames.size(3);
  check(frames, "frames", at::kByte, {n, 3, h, w});
  TORCH_CHECK(h >= 1 && w >= 1 && out_h >= 1 && out_w >= 1, "clip_augment: empty frames or output size");
  check(boxes, "boxes (N, 4)", at::kFloat, {n, 4});
  check(order, "order (N, 4)", at::kLong, {n, 4});
  check(factors, "factors (N, 4)", at::kFloat, {n, 4});
  check(gray, "gray (N,)", at::kBool, {n});
  check(radius, "radius (N,)", at::kLong, {n});
  check(sigma, "sigma (N,)", at::kFloat, {n});
  check(flip, "flip (N,)", at::kBool, {n});
  check(scale, "scale (3,)", at::kFloat, {3});
  check(bias, "bias (3,)", at::kFloat, {3});
  if (n == 0) return at::empty({0, 3, out_h, out_w}, frames.options().dtype(at::kFloat));
  TORCH_CHECK(order.min().item<int64_t>() >= -1 && order.max().item<int64_t>() <= 3,
              "clip_augment: order entries must be -1 (none) or 0..3");
  TORCH_CHECK(radius.min().item<int64_t>() >= 0 && radius.max().item<int64_t>() < std::min(out_h, out_w),
              "clip_augment: a blur radius must be >= 0 and smaller than the output size (reflect padding)");
  auto b = boxes.accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i)
    TORCH_CHECK(b[i][0] >= 0 && b[i][1] >= 0 && b[i][2] <= w && b[i][3] <= h && b[i][2] > b[i][0] &&
                    b[i][3] > b[i][1],
                "clip_augment: box ", i, " (", b[i][0], ", ", b[i][1], ", ", b[i][2], ", ", b[i][3],
                ") is empty or leaves the ", w, "x", h, " frame");
  pybind11::gil_scoped_release released;
  return surgvlp::augment::clip_augment(frames, boxes, out_h, out_w, order, factors, gray, radius, sigma, flip,
                                        scale, bias);
}

at::Tensor normalize_uint8(const at::Tensor& frames, const at::Tensor& table) {
  TORCH_CHECK(frames.dim() >= 3 && frames.size(-3) == 3, "normalize_uint8: frames must be (..., 3, H, W), got ",
              frames.sizes());
  TORCH_CHECK(frames.device().is_cpu() && frames.scalar_type() == at::kByte && frames.is_contiguous(),
              "normalize_uint8: frames must be a contiguous CPU uint8 tensor");
  check(table, "table (3, 256)", at::kFloat, {3, 256});
  pybind11::gil_scoped_release released;
  return surgvlp::augment::normalize_uint8(frames, table);
}

void init(pybind11::module_& m) {
  m.doc() = "The clip-level augmentation chain on uint8 CPU frames, one pass per step over each frame";
  m.def("clip_augment", &clip_augment, pybind11::arg("frames"), pybind11::arg("boxes"), pybind11::arg("out_h"),
        pybind11::arg("out_w"), pybind11::arg("order"), pybind11::arg("factors"), pybind11::arg("gray"),
        pybind11::arg("radius"), pybind11::arg("sigma"), pybind11::arg("flip"), pybind11::arg("scale"),
        pybind11::arg("bias"),
        "uint8 (N,3,H,W) + the drawn parameters -> normalised float32 (N,3,out_h,out_w)");
  m.def("normalize_uint8", &normalize_uint8, pybind11::arg("frames"), pybind11::arg("table"),
        "uint8 (...,3,H,W) -> float32 table[channel][value], table (3, 256)");
}

}  // namespace

SURGVLP_REGISTER_SUBMODULE(augment, init)
