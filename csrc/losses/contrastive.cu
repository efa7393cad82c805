// CUDA kernels of the fused log-sum-exp statistics (see contrastive.h): plain tiled kernels,
// 16 × 16 threads per block, one S entry per thread, the tile's dot products through shared
// memory. Rows (or columns) statistics: one block per 16 rows (columns) walks all tiles with an
// online log-sum-exp. Gradients: one block per 16 rows accumulates dX, one per 16 columns dY,
// each recomputing its tiles; every output element has one writer. Nothing of size R × C exists.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cmath>
#include <type_traits>

namespace surgvlp::losses {
namespace {

constexpr int kT = 16;

template <typename acc_t>
__device__ acc_t neg_inf() {
  return -INFINITY;
}

// S[row, col] = scale · x[row] · y[col] for this thread's (row, col) of the tile at (r0, c0);
// -inf outside S or at an excluded entry. Every thread of the block must call it.
template <typename scalar_t, typename acc_t>
__device__ acc_t tile_entry(const scalar_t* x, const scalar_t* y, int64_t R, int64_t C, int64_t D, int64_t r0,
                            int64_t c0, acc_t scale, const int64_t* exclude, acc_t (&xs)[kT][kT + 1],
                            acc_t (&ys)[kT][kT + 1]) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  acc_t acc = 0;
  for (int64_t d0 = 0; d0 < D; d0 += kT) {
    const int64_t d = d0 + tx;
    xs[ty][tx] = (r0 + ty < R && d < D) ? static_cast<acc_t>(x[(r0 + ty) * D + d]) : acc_t(0);
    ys[ty][tx] = (c0 + ty < C && d < D) ? static_cast<acc_t>(y[(c0 + ty) * D + d]) : acc_t(0);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kT; ++k) acc += xs[ty][k] * ys[tx][k];
    __syncthreads();
  }
  const int64_t row = r0 + ty, col = c0 + tx;
  if (row >= R || col >= C) return neg_inf<acc_t>();
  if (exclude != nullptr && exclude[row] == col) return neg_inf<acc_t>();
  return scale * acc;
}

// Folds kT values into a running (max, sum of exp relative to the max).
template <typename acc_t>
__device__ void online_update(acc_t& run_max, acc_t& run_sum, const acc_t* values, int stride) {
  acc_t tile_max = neg_inf<acc_t>();
  for (int k = 0; k < kT; ++k) tile_max = max(tile_max, values[k * stride]);
  const acc_t new_max = max(run_max, tile_max);
  const acc_t shift = isinf(new_max) ? acc_t(0) : new_max;
  acc_t sum = run_sum * exp((isinf(run_max) ? acc_t(0) : run_max) - shift);
  for (int k = 0; k < kT; ++k) sum += exp(values[k * stride] - shift);
  run_max = new_max;
  run_sum = sum;
}

// ROWS: one block per kT rows, out[row] = logsumexp_j S[row, j]; else one block per kT
// columns, out[col] = logsumexp_i S[i, col].
template <typename scalar_t, typename acc_t, bool ROWS>
__global__ void lse_kernel(const scalar_t* x, const scalar_t* y, int64_t R, int64_t C, int64_t D, acc_t scale,
                           const int64_t* exclude, acc_t* out) {
  __shared__ acc_t xs[kT][kT + 1], ys[kT][kT + 1], tile[kT][kT + 1];
  __shared__ acc_t run_max[kT], run_sum[kT];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t own0 = static_cast<int64_t>(blockIdx.x) * kT;
  if (ty == 0) {
    run_max[tx] = neg_inf<acc_t>();
    run_sum[tx] = 0;
  }
  const int64_t others = ROWS ? C : R;
  for (int64_t o0 = 0; o0 < others; o0 += kT) {
    const acc_t s = ROWS ? tile_entry(x, y, R, C, D, own0, o0, scale, exclude, xs, ys)
                         : tile_entry(x, y, R, C, D, o0, own0, scale, exclude, xs, ys);
    tile[ty][tx] = s;
    __syncthreads();
    if (ROWS && tx == 0) online_update(run_max[ty], run_sum[ty], &tile[ty][0], 1);
    if (!ROWS && ty == 0) online_update(run_max[tx], run_sum[tx], &tile[0][tx], kT + 1);
    __syncthreads();
  }
  const int k = ROWS ? ty : tx;
  const bool writer = ROWS ? tx == 0 : ty == 0;
  if (writer && own0 + k < (ROWS ? R : C)) {
    out[own0 + k] = (isinf(run_max[k]) ? acc_t(0) : run_max[k]) + log(run_sum[k]);
  }
}

// FOR_X: one block per kT rows accumulates dX; else one block per kT columns accumulates dY.
// dS = grad_row ⊙ exp(S - row_lse) + grad_col ⊙ exp(S - col_lse) (per-column copies).
template <typename scalar_t, typename acc_t, bool FOR_X>
__global__ void grad_kernel(const scalar_t* x, const scalar_t* y, int64_t R, int64_t C, int64_t D, acc_t scale,
                            const int64_t* exclude, const acc_t* row_lse, const acc_t* grad_row,
                            const acc_t* col_lse, const acc_t* grad_col, acc_t* out) {
  __shared__ acc_t xs[kT][kT + 1], ys[kT][kT + 1], p[kT][kT + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t own0 = static_cast<int64_t>(blockIdx.x) * kT;
  const int64_t others = FOR_X ? C : R;
  for (int64_t o0 = 0; o0 < others; o0 += kT) {
    const int64_t r0 = FOR_X ? own0 : o0, c0 = FOR_X ? o0 : own0;
    const acc_t s = tile_entry(x, y, R, C, D, r0, c0, scale, exclude, xs, ys);
    const int64_t row = r0 + ty, col = c0 + tx;
    acc_t g = 0;
    if (row < R && col < C) {
      if (grad_row != nullptr) g += grad_row[row] * exp(s - row_lse[row]);
      if (grad_col != nullptr) g += grad_col[col] * exp(s - col_lse[col]);
    }
    p[ty][tx] = g;
    __syncthreads();
    // Thread (ty, tx): own index own0 + ty, width entries tx, tx + kT, ...
    const int64_t mine = own0 + ty;
    if (mine < (FOR_X ? R : C)) {
      const scalar_t* src = FOR_X ? y : x;
      for (int64_t d = tx; d < D; d += kT) {
        acc_t acc = 0;
        for (int k = 0; k < kT && o0 + k < others; ++k) {
          const acc_t weight = FOR_X ? p[ty][k] : p[k][ty];
          acc += weight * static_cast<acc_t>(src[(o0 + k) * D + d]);
        }
        out[mine * D + d] += scale * acc;
      }
    }
    __syncthreads();
  }
}

template <typename T>
const T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

// out (R or C, compute dtype): the row (rows=true) or per-column log-sum-exp of S.
void cuda_lse(const at::Tensor& x, const at::Tensor& y, double scale, const at::Tensor& exclude, bool rows,
              at::Tensor& out) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t R = x.size(0), C = y.size(0), D = x.size(1);
  const dim3 block(kT, kT), grid(((rows ? R : C) + kT - 1) / kT);
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "cuda_lse", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    const auto* e = ptr_or_null<int64_t>(exclude);
    if (rows) {
      lse_kernel<scalar_t, acc_t, true><<<grid, block, 0, stream>>>(
          x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), R, C, D, static_cast<acc_t>(scale), e, out.data_ptr<acc_t>());
    } else {
      lse_kernel<scalar_t, acc_t, false><<<grid, block, 0, stream>>>(
          x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), R, C, D, static_cast<acc_t>(scale), e, out.data_ptr<acc_t>());
    }
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// dx, dy (compute dtype, zero-filled) += the gradients of the statistics.
void cuda_lse_grads(const at::Tensor& x, const at::Tensor& y, double scale, const at::Tensor& exclude,
                    const at::Tensor& row_lse, const at::Tensor& grad_row, const at::Tensor& col_lse,
                    const at::Tensor& grad_col, at::Tensor& dx, at::Tensor& dy) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t R = x.size(0), C = y.size(0), D = x.size(1);
  const dim3 block(kT, kT);
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "cuda_lse_grads", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    const auto* e = ptr_or_null<int64_t>(exclude);
    const auto *rl = ptr_or_null<acc_t>(row_lse), *gr = ptr_or_null<acc_t>(grad_row);
    const auto *cl = ptr_or_null<acc_t>(col_lse), *gc = ptr_or_null<acc_t>(grad_col);
    grad_kernel<scalar_t, acc_t, true><<<dim3((R + kT - 1) / kT), block, 0, stream>>>(
        x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), R, C, D, static_cast<acc_t>(scale), e, rl, gr, cl, gc,
        dx.data_ptr<acc_t>());
    grad_kernel<scalar_t, acc_t, false><<<dim3((C + kT - 1) / kT), block, 0, stream>>>(
        x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), R, C, D, static_cast<acc_t>(scale), e, rl, gr, cl, gc,
        dy.data_ptr<acc_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace surgvlp::losses
