// Soft-DTW forward and analytical backward on the CPU. Samples run in parallel (OpenMP through
// at::parallel_for); within a sample the table is filled one anti-diagonal at a time (the cells of
// a diagonal are independent), and the backward walks the diagonals in reverse.
#include "soft_dtw.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

namespace surgvlp::dtw {
namespace {

// Soft-min of the neighbours (left, diagonal, up) of a cell, and its derivatives in `grad`.
// The minimum is taken out before dividing by γ, so BIG (FLT_MAX) neighbours get weight exactly 0
// and a derivative of exactly 0.
template <typename scalar_t, bool kStandard>
inline scalar_t softmin3(const scalar_t n[3], scalar_t gamma, scalar_t inv_gamma, scalar_t grad[3]) {
  const scalar_t low = std::min(n[0], std::min(n[1], n[2]));
  scalar_t gap[3], w[3];
  scalar_t total = 0;
  for (int m = 0; m < 3; ++m) {
    gap[m] = n[m] - low;
    w[m] = std::exp(-gap[m] * inv_gamma);
    total += w[m];
  }
  for (int m = 0; m < 3; ++m) w[m] /= total;
  if (kStandard) {
    for (int m = 0; m < 3; ++m) grad[m] = w[m];
    return low - gamma * std::log(total);
  }
  // Σ w n (`dtw_prob`) written as low + Σ w (n − low): the gaps are small where the weights are
  // not 0, which keeps float32 precise (n and the value are sums of many costs).
  scalar_t mean_gap = 0;
  for (int m = 0; m < 3; ++m) mean_gap += w[m] == 0 ? scalar_t(0) : w[m] * gap[m];
  for (int m = 0; m < 3; ++m) grad[m] = w[m] == 0 ? scalar_t(0) : w[m] * (1 - (gap[m] - mean_gap) * inv_gamma);
  return low + mean_gap;
}

// Column of the cost matrix read by DTW column k (0-based) of a sample with n steps.
inline int64_t cost_column(int64_t k, int64_t n, bool reverse) { return reverse ? n - 1 - k : k; }

template <typename scalar_t, bool kStandard, bool kNeedGrad>
void forward_kernel(const scalar_t* cost, const int64_t* lengths, scalar_t* values, scalar_t* local_grads,
                    int64_t batch, int64_t frames, int64_t steps, scalar_t gamma, bool reverse) {
  const scalar_t inv_gamma = scalar_t(1) / gamma;
  const scalar_t big = FLT_MAX;
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> table((frames + 1) * (steps + 1));
    for (int64_t b = begin; b < end; ++b) {
      const int64_t n = lengths[b], width = n + 1;
      const scalar_t* c = cost + b * frames * steps;
      scalar_t* g = kNeedGrad ? local_grads + b * frames * steps * 3 : nullptr;
      table[0] = 0;
      for (int64_t j = 1; j <= n; ++j) table[j] = big;
      for (int64_t i = 1; i <= frames; ++i) table[i * width] = big;
      for (int64_t d = 2; d <= frames + n; ++d) {
        const int64_t i_lo = std::max<int64_t>(1, d - n), i_hi = std::min<int64_t>(frames, d - 1);
        for (int64_t i = i_lo; i <= i_hi; ++i) {
          const int64_t j = d - i;
          scalar_t* cell = &table[i * width + j];
          const scalar_t neighbours[3] = {cell[-1], cell[-width - 1], cell[-width]};
          scalar_t grad[3];
          const scalar_t soft = softmin3<scalar_t, kStandard>(neighbours, gamma, inv_gamma, grad);
          *cell = c[(i - 1) * steps + cost_column(j - 1, n, reverse)] + soft;
          if (kNeedGrad) {
            scalar_t* out = g + ((i - 1) * steps + (j - 1)) * 3;
            out[0] = grad[0], out[1] = grad[1], out[2] = grad[2];
          }
        }
      }
      values[b] = table[frames * width + n];
    }
  });
}

template <typename scalar_t>
void backward_kernel(const scalar_t* local_grads, const int64_t* lengths, const scalar_t* grad_values,
                     scalar_t* grad_cost, int64_t batch, int64_t frames, int64_t steps, bool reverse) {
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> table((frames + 1) * (steps + 1));  // ∂loss/∂R[i, j]
    for (int64_t b = begin; b < end; ++b) {
      const int64_t n = lengths[b], width = n + 1;
      const scalar_t* g = local_grads + b * frames * steps * 3;
      scalar_t* out = grad_cost + b * frames * steps;
      // Cell (i, j) feeds (i, j+1) as its left, (i+1, j+1) as its diagonal and (i+1, j) as its up
      // neighbour; the local derivatives of cell (i, j) are stored at g[(i-1, j-1)].
      for (int64_t d = frames + n; d >= 2; --d) {
        const int64_t i_lo = std::max<int64_t>(1, d - n), i_hi = std::min<int64_t>(frames, d - 1);
        for (int64_t i = i_lo; i <= i_hi; ++i) {
          const int64_t j = d - i;
          scalar_t e = (i == frames && j == n) ? grad_values[b] : scalar_t(0);
          if (j < n) e += table[i * width + j + 1] * g[((i - 1) * steps + j) * 3 + 0];
          if (i < frames) {
            if (j < n) e += table[(i + 1) * width + j + 1] * g[(i * steps + j) * 3 + 1];
            e += table[(i + 1) * width + j] * g[(i * steps + j - 1) * 3 + 2];
          }
          table[i * width + j] = e;
          out[(i - 1) * steps + cost_column(j - 1, n, reverse)] = e;
        }
      }
    }
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> soft_dtw_forward(const at::Tensor& cost, const at::Tensor& lengths,
                                                     double gamma, Softmin softmin, bool reverse,
                                                     bool need_grad) {
  const int64_t batch = cost.size(0), frames = cost.size(1), steps = cost.size(2);
  at::Tensor values = at::empty({batch}, cost.options());
  at::Tensor local_grads = need_grad ? at::zeros({batch, frames, steps, 3}, cost.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(cost.scalar_type(), "soft_dtw_forward", [&] {
    const auto g = static_cast<scalar_t>(gamma);
    scalar_t* grads = need_grad ? local_grads.data_ptr<scalar_t>() : nullptr;
    auto run = [&](auto standard, auto with_grad) {
      forward_kernel<scalar_t, decltype(standard)::value, decltype(with_grad)::value>(
          cost.data_ptr<scalar_t>(), lengths.data_ptr<int64_t>(), values.data_ptr<scalar_t>(), grads,
          batch, frames, steps, g, reverse);
    };
    const bool standard = softmin == Softmin::Standard;
    if (standard && need_grad) run(std::true_type{}, std::true_type{});
    else if (standard) run(std::true_type{}, std::false_type{});
    else if (need_grad) run(std::false_type{}, std::true_type{});
    else run(std::false_type{}, std::false_type{});
  });
  return {values, need_grad ? local_grads : at::empty({0}, cost.options())};
}

at::Tensor soft_dtw_backward(const at::Tensor& local_grads, const at::Tensor& lengths,
                             const at::Tensor& grad_values, bool reverse) {
  const int64_t batch = local_grads.size(0), frames = local_grads.size(1), steps = local_grads.size(2);
  at::Tensor grad_cost = at::zeros({batch, frames, steps}, local_grads.options());
  AT_DISPATCH_FLOATING_TYPES(local_grads.scalar_type(), "soft_dtw_backward", [&] {
    backward_kernel<scalar_t>(local_grads.data_ptr<scalar_t>(), lengths.data_ptr<int64_t>(),
                              grad_values.data_ptr<scalar_t>(), grad_cost.data_ptr<scalar_t>(), batch,
                              frames, steps, reverse);
  });
  return grad_cost;
}

}  // namespace surgvlp::dtw
