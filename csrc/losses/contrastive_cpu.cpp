// CPU (ATen + OpenMP) kernels of the fused log-sum-exp statistics; see contrastive.h.
//
// S is visited in tiles of kTileRows × kTileCols. The forward keeps a running (max, sum) per row
// and per column (the online log-sum-exp); the backward recomputes each tile once and does the
// two gradient GEMMs from it. Work is spread over threads in "diagonal" phases: with P workers,
// rows and columns are cut into P parts, and in phase p worker w owns row part w and column part
// (w + p) mod P. Row- and column-side accumulators are thus written by one worker at a time, with
// no per-thread copies of dY and no atomics.
#include "contrastive.h"

#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace surgvlp::losses {
namespace {

constexpr int64_t kTileRows = 256;
constexpr int64_t kTileCols = 512;
// Below this many multiply-adds (R·C·d) one thread does the whole matrix: waking the others
// costs more than it saves, and far more on a busy machine.
constexpr int64_t kParallelWork = int64_t(1) << 22;

at::ScalarType compute_type(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

int64_t part_start(int64_t n, int64_t parts, int64_t p) { return n * p / parts; }

// fn(row_begin, row_end, col_begin, col_end) over all of S, in the diagonal phases above.
template <typename Fn>
void for_each_diagonal_block(int64_t rows, int64_t cols, int64_t width, const Fn& fn) {
  const int64_t threads = rows * cols * width < kParallelWork ? 1 : at::get_num_threads();
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, rows));
  for (int64_t phase = 0; phase < parts; ++phase) {
    at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
      c10::AutoGradMode no_grad(false);  // grad mode is thread-local and the workers start with the default
      for (int64_t w = begin; w < end; ++w) {
        const int64_t c = (w + phase) % parts;
        fn(part_start(rows, parts, w), part_start(rows, parts, w + 1), part_start(cols, parts, c),
           part_start(cols, parts, c + 1));
      }
    });
  }
}

// S[i, j] = -inf where column cb + j is row rb + i's excluded column.
template <typename T>
void mask_excluded(at::Tensor& S, const int64_t* exclude, int64_t rb, int64_t cb) {
  if (exclude == nullptr) return;
  const int64_t nr = S.size(0), nc = S.size(1);
  T* s = S.data_ptr<T>();
  for (int64_t i = 0; i < nr; ++i) {
    const int64_t c = exclude[rb + i] - cb;
    if (c >= 0 && c < nc) s[i * nc + c] = -std::numeric_limits<T>::infinity();
  }
}

template <typename T>
T finite_or_zero(T m) {
  return std::isinf(m) ? T(0) : m;
}

// Folds tile S into the running (max, sum) of its rows (dim = 1) or columns (dim = 0); sums are
// kept relative to the running max (0 while the max is still -inf).
template <typename T>
void online_logsumexp(const at::Tensor& S, at::Tensor& E, int64_t dim, T* run_max, T* run_sum) {
  const int64_t n = S.size(1 - dim);
  at::Tensor tile_max = S.amax(dim);
  at::Tensor shift = at::empty({n}, S.options());
  const T* tm = tile_max.data_ptr<T>();
  T* sh = shift.data_ptr<T>();
  for (int64_t i = 0; i < n; ++i) sh[i] = finite_or_zero(std::max(run_max[i], tm[i]));
  at::sub_out(E, S, dim == 1 ? shift.view({n, 1}) : shift.view({1, n}));
  E.exp_();
  at::Tensor tile_sum = E.sum(dim);
  const T* ts = tile_sum.data_ptr<T>();
  for (int64_t i = 0; i < n; ++i) {
    run_sum[i] = run_sum[i] * std::exp(finite_or_zero(run_max[i]) - sh[i]) + ts[i];
    run_max[i] = std::max(run_max[i], tm[i]);
  }
}

// max + log(sum) of running statistics; -inf where nothing was summed.
at::Tensor lse_from(const at::Tensor& run_max, const at::Tensor& run_sum) {
  return at::where(at::isinf(run_max), at::zeros_like(run_max), run_max) + run_sum.log();
}

at::Tensor tile_view(at::Tensor& buffer, int64_t nr, int64_t nc) {
  return buffer.narrow(0, 0, nr * nc).view({nr, nc});
}

template <typename T>
std::tuple<at::Tensor, at::Tensor> forward_impl(const at::Tensor& x, const at::Tensor& y, double scale,
                                                bool want_row, bool want_col, const int64_t* exclude) {
  const int64_t R = x.size(0), C = y.size(0);
  const auto opts = x.options();
  const T inf = std::numeric_limits<T>::infinity();
  at::Tensor row_max = at::full({want_row ? R : 0}, -inf, opts), row_sum = at::zeros({want_row ? R : 0}, opts);
  at::Tensor col_max = at::full({want_col ? C : 0}, -inf, opts), col_sum = at::zeros({want_col ? C : 0}, opts);
  T *rm = row_max.data_ptr<T>(), *rs = row_sum.data_ptr<T>();
  T *cm = col_max.data_ptr<T>(), *cs = col_sum.data_ptr<T>();

  for_each_diagonal_block(R, C, x.size(1), [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    at::Tensor s_buf = at::empty({kTileRows * kTileCols}, opts), e_buf = at::empty({kTileRows * kTileCols}, opts);
    for (int64_t rb = r0; rb < r1; rb += kTileRows) {
      const int64_t nr = std::min(kTileRows, r1 - rb);
      const at::Tensor xb = x.narrow(0, rb, nr);
      for (int64_t cb = c0; cb < c1; cb += kTileCols) {
        const int64_t nc = std::min(kTileCols, c1 - cb);
        at::Tensor S = tile_view(s_buf, nr, nc), E = tile_view(e_buf, nr, nc);
        at::addmm_out(S, S, xb, y.narrow(0, cb, nc).t(), /*beta=*/0, /*alpha=*/scale);
        mask_excluded<T>(S, exclude, rb, cb);
        if (want_row) online_logsumexp<T>(S, E, 1, rm + rb, rs + rb);
        if (want_col) online_logsumexp<T>(S, E, 0, cm + cb, cs + cb);
      }
    }
  });

  at::Tensor row_lse = want_row ? lse_from(row_max, row_sum) : at::empty({0}, opts);
  at::Tensor col_lse = want_col ? lse_from(col_max, col_sum) : at::empty({0}, opts);
  return {row_lse, col_lse};
}

template <typename T>
std::tuple<at::Tensor, at::Tensor> backward_impl(const at::Tensor& x, const at::Tensor& y, double scale,
                                                 const at::Tensor& row_lse,
                                                 const at::Tensor& col_lse, const at::Tensor& grad_row,
                                                 const at::Tensor& grad_col, const int64_t* exclude) {
  const int64_t R = x.size(0), C = y.size(0);
  const auto opts = x.options();
  const bool use_row = grad_row.defined(), use_col = grad_col.defined();
  at::Tensor dx = at::zeros_like(x), dy = at::zeros_like(y);
  if (!use_row && !use_col) return {dx, dy};
  const at::Tensor col_lse_c = use_col ? col_lse.to(opts).view({1, C}) : at::Tensor();
  const at::Tensor grad_col_c = use_col ? grad_col.to(opts).view({1, C}) : at::Tensor();
  const at::Tensor row_lse_r = use_row ? row_lse.to(opts).view({R, 1}) : at::Tensor();
  const at::Tensor grad_row_r = use_row ? grad_row.to(opts).view({R, 1}) : at::Tensor();

  for_each_diagonal_block(R, C, x.size(1), [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    at::Tensor s_buf = at::empty({kTileRows * kTileCols}, opts), p_buf = at::empty({kTileRows * kTileCols}, opts);
    for (int64_t rb = r0; rb < r1; rb += kTileRows) {
      const int64_t nr = std::min(kTileRows, r1 - rb);
      const at::Tensor xb = x.narrow(0, rb, nr);
      at::Tensor dxb = dx.narrow(0, rb, nr);
      for (int64_t cb = c0; cb < c1; cb += kTileCols) {
        const int64_t nc = std::min(kTileCols, c1 - cb);
        const at::Tensor yb = y.narrow(0, cb, nc);
        at::Tensor S = tile_view(s_buf, nr, nc), P = tile_view(p_buf, nr, nc);
        at::addmm_out(S, S, xb, yb.t(), /*beta=*/0, /*alpha=*/scale);
        mask_excluded<T>(S, exclude, rb, cb);
        // dS = grad_row ⊙ softmax over the row + grad_col ⊙ softmax over the column (col_lse per column).
        if (use_row) {
          at::sub_out(P, S, row_lse_r.narrow(0, rb, nr));
          P.exp_().mul_(grad_row_r.narrow(0, rb, nr));
        }
        if (use_col) {
          S.sub_(col_lse_c.narrow(1, cb, nc)).exp_().mul_(grad_col_c.narrow(1, cb, nc));
          if (use_row) P.add_(S); else P.copy_(S);
        }
        dxb.addmm_(P, yb, /*beta=*/1, /*alpha=*/scale);
        dy.narrow(0, cb, nc).addmm_(P.t(), xb, /*beta=*/1, /*alpha=*/scale);
      }
    }
  });
  return {dx, dy};
}

const int64_t* exclude_ptr(const at::Tensor& exclude) {
  return exclude.defined() ? exclude.data_ptr<int64_t>() : nullptr;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> lse_forward_cpu(const at::Tensor& x, const at::Tensor& y, double scale,
                                                   bool want_row, bool want_col, const at::Tensor& exclude) {
  const auto type = compute_type(x);
  const at::Tensor xc = x.detach().to(type).contiguous(), yc = y.detach().to(type).contiguous();
  if (type == at::kDouble) return forward_impl<double>(xc, yc, scale, want_row, want_col, exclude_ptr(exclude));
  return forward_impl<float>(xc, yc, scale, want_row, want_col, exclude_ptr(exclude));
}

std::tuple<at::Tensor, at::Tensor> lse_backward_cpu(const at::Tensor& x, const at::Tensor& y, double scale,
                                                    const at::Tensor& row_lse, const at::Tensor& col_lse,
                                                    const at::Tensor& grad_row, const at::Tensor& grad_col,
                                                    const at::Tensor& exclude) {
  const auto type = compute_type(x);
  const at::Tensor xc = x.detach().to(type).contiguous(), yc = y.detach().to(type).contiguous();
  if (type == at::kDouble)
    return backward_impl<double>(xc, yc, scale, row_lse, col_lse, grad_row, grad_col, exclude_ptr(exclude));
  return backward_impl<float>(xc, yc, scale, row_lse, col_lse, grad_row, grad_col, exclude_ptr(exclude));
}

}  // namespace surgvlp::losses
