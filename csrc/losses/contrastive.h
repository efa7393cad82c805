// Fused log-sum-exp statistics of a similarity matrix S = scale · X Yᵀ that is never stored whole.
//
// Every contrastive loss of surgvlp_fast is built from these statistics (see
// surgvlp_fast/losses/fused.py):
//   row_lse[i] = logsumexp_j S[i, j]                     (R values)
//   col_lse[j] = logsumexp_i S[i, j]                     (C values; the grouping of columns, e.g.
//                                                         MIL-NCE's K candidates, is fused.py's)
// An optional `exclude` (R,) int64 removes entry (i, exclude[i]) from S (-1: nothing removed).
// The backward takes the gradients of the two outputs and recomputes S tile by tile.
#pragma once
#include <ATen/ATen.h>

#include <tuple>

namespace surgvlp::losses {

// Returns (row_lse, col_lse) in the compute dtype (float64 for float64 inputs, else float32);
// an output that is not wanted is an empty tensor.
std::tuple<at::Tensor, at::Tensor> lse_forward_cpu(const at::Tensor& x, const at::Tensor& y, double scale,
                                                   bool want_row, bool want_col, const at::Tensor& exclude);

// Returns (dX, dY) in the compute dtype. Undefined grad_row / grad_col mean zero.
std::tuple<at::Tensor, at::Tensor> lse_backward_cpu(const at::Tensor& x, const at::Tensor& y, double scale,
                                                    const at::Tensor& row_lse,
                                                    const at::Tensor& col_lse, const at::Tensor& grad_row,
                                                    const at::Tensor& grad_col, const at::Tensor& exclude);

}  // namespace surgvlp::losses

#ifdef SURGVLP_WITH_CUDA
namespace surgvlp::losses {
// The same two functions for CUDA tensors (contrastive_cuda.cpp / contrastive.cu).
std::tuple<at::Tensor, at::Tensor> lse_forward_cuda(const at::Tensor& x, const at::Tensor& y, double scale,
                                                    bool want_row, bool want_col, const at::Tensor& exclude);
std::tuple<at::Tensor, at::Tensor> lse_backward_cuda(const at::Tensor& x, const at::Tensor& y, double scale,
                                                     const at::Tensor& row_lse,
                                                     const at::Tensor& col_lse, const at::Tensor& grad_row,
                                                     const at::Tensor& grad_col, const at::Tensor& exclude);
}  // namespace surgvlp::losses
#endif
