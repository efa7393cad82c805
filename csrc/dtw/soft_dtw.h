// Soft-DTW of PeskaVLP (reference.md §4.3) on the CPU: forward with the local derivatives of
// every cell saved, and the analytical backward that propagates through them.
#pragma once
#include <ATen/ATen.h>

#include <tuple>

namespace surgvlp::dtw {

enum class Softmin { Prob, Standard };

// cost (B, T, N) float/double contiguous; lengths (B,) int64 in [1, N]: sample b uses the first
// lengths[b] columns (in reverse order when `reverse`) and ends at R[T, lengths[b]].
// Returns (values (B,), local_grads (B, T, N, 3): ∂softmin/∂(left, diagonal, up) of every
// cell, zero beyond a sample's steps; an empty tensor when !need_grad).
std::tuple<at::Tensor, at::Tensor> soft_dtw_forward(const at::Tensor& cost, const at::Tensor& lengths,
                                                     double gamma, Softmin softmin, bool reverse,
                                                     bool need_grad);

// grad_values (B,) → grad_cost (B, T, N), from the local derivatives of the forward.
at::Tensor soft_dtw_backward(const at::Tensor& local_grads, const at::Tensor& lengths,
                             const at::Tensor& grad_values, bool reverse);

}  // namespace surgvlp::dtw
