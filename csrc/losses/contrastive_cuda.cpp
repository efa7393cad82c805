// Host side of the CUDA statistics (kernels in contrastive.cu): allocation and the compute-dtype
// copies of the statistics the backward kernels read (per column: the grouping is fused.py's).
#include "contrastive.h"

namespace surgvlp::losses {

void cuda_lse(const at::Tensor& x, const at::Tensor& y, double scale, const at::Tensor& exclude, bool rows,
              at::Tensor& out);
void cuda_lse_grads(const at::Tensor& x, const at::Tensor& y, double scale, const at::Tensor& exclude,
                    const at::Tensor& row_lse, const at::Tensor& grad_row, const at::Tensor& col_lse,
                    const at::Tensor& grad_col, at::Tensor& dx, at::Tensor& dy);

namespace {
at::ScalarType compute_type(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}
}  // namespace

std::tuple<at::Tensor, at::Tensor> lse_forward_cuda(const at::Tensor& x, const at::Tensor& y, double scale,
                                                    bool want_row, bool want_col, const at::Tensor& exclude) {
  const auto opts = x.options().dtype(compute_type(x));
  const int64_t R = x.size(0), C = y.size(0);
  at::Tensor row_lse = at::empty({want_row ? R : 0}, opts), col_lse = at::empty({0}, opts);
  if (want_row) cuda_lse(x, y, scale, exclude, /*rows=*/true, row_lse);
  if (want_col) {
    col_lse = at::empty({C}, opts);
    cuda_lse(x, y, scale, exclude, /*rows=*/false, col_lse);
  }
  return {row_lse, col_lse};
}

std::tuple<at::Tensor, at::Tensor> lse_backward_cuda(const at::Tensor& x, const at::Tensor& y, double scale,
                                                     const at::Tensor& row_lse,
                                                     const at::Tensor& col_lse, const at::Tensor& grad_row,
                                                     const at::Tensor& grad_col, const at::Tensor& exclude) {
  const auto opts = x.options().dtype(compute_type(x));
  at::Tensor dx = at::zeros(x.sizes(), opts), dy = at::zeros(y.sizes(), opts);
  const bool use_row = grad_row.defined(), use_col = grad_col.defined();
  if (!use_row && !use_col) return {dx, dy};
  auto prepared = [&](const at::Tensor& t, bool use) { return use ? t.to(opts).contiguous() : at::Tensor(); };
  cuda_lse_grads(x, y, scale, exclude, prepared(row_lse, use_row), prepared(grad_row, use_row),
                 prepared(col_lse, use_col), prepared(grad_col, use_col), dx, dy);
  return {dx, dy};
}

}  // namespace surgvlp::losses
