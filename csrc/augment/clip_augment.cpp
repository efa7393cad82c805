#include "clip_augment.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace surgvlp::augment {
namespace {

constexpr float kGray[3] = {0.2989f, 0.587f, 0.114f};  // as torchvision's tensor ops

inline float clamp01(float v) { return std::min(std::max(v, 0.0f), 1.0f); }

// One sampling position of roi_align along an axis: the two neighbours and their weights.
struct Tap {
  int low, high;
  float l, h;  // weight of high, weight of low
  bool inside;
};

// torchvision roi_align (aligned=True, sampling_ratio=-1) along one axis: `out` bins of the box
// [start, end) of an axis of `size` pixels, `grid` samples per bin.
std::vector<Tap> axis_taps(float box_start, float box_end, int size, int out, int* grid) {
  const float start = box_start - 0.5f, end = box_end - 0.5f;
  const float length = end - start;
  const float bin = length / static_cast<float>(out);
  *grid = static_cast<int>(std::ceil(length / out));
  std::vector<Tap> taps(static_cast<size_t>(out) * std::max(*grid, 0));
  size_t t = 0;
  for (int p = 0; p < out; ++p)
    for (int i = 0; i < *grid; ++i) {
      float v = start + p * bin + static_cast<float>(i + .5f) * bin / static_cast<float>(*grid);
      Tap tap{0, 0, 0.0f, 0.0f, v >= -1.0f && v <= size};
      if (tap.inside) {
        if (v <= 0) v = 0;
        int low = static_cast<int>(v), high;
        if (low >= size - 1) {
          high = low = size - 1;
          v = static_cast<float>(low);
        } else {
          high = low + 1;
        }
        tap.low = low, tap.high = high;
        tap.l = v - low;
        tap.h = 1.0f - tap.l;
      }
      taps[t++] = tap;
    }
  return taps;
}

// Random resized crop of one uint8 frame (3, H, W) into `out` (3, oh, ow) floats in [0, 1]: roi_align's
// bilinear samples, computed separably (each source row of the box interpolated across once, then
// the rows blended), which moves the result only by float rounding.
void resized_crop(const uint8_t* src, int height, int width, const float* box, int oh, int ow, float* out,
                  std::vector<float>& rows_buffer) {
  int grid_h = 0, grid_w = 0;
  const auto rows = axis_taps(box[1], box[3], height, oh, &grid_h);
  const auto cols = axis_taps(box[0], box[2], width, ow, &grid_w);
  const float count = static_cast<float>(std::max(grid_h * grid_w, 1));
  int first = height, last = -1;  // the source rows the samples touch
  for (const Tap& t : rows)
    if (t.inside) first = std::min(first, t.low), last = std::max(last, t.high);
  const int64_t plane = static_cast<int64_t>(height) * width, out_plane = static_cast<int64_t>(oh) * ow;
  const int used = std::max(last - first + 1, 0);
  rows_buffer.resize(static_cast<size_t>(used) * ow + width);
  float* line = rows_buffer.data() + static_cast<size_t>(used) * ow;  // one source row as floats
  std::vector<int> low(cols.size()), high(cols.size());
  std::vector<float> wl(cols.size()), wh(cols.size());
  for (size_t i = 0; i < cols.size(); ++i) {  // a sample outside the frame weighs 0 (roi_align)
    low[i] = cols[i].low, high[i] = cols[i].high;
    wl[i] = cols[i].inside ? cols[i].h : 0.0f, wh[i] = cols[i].inside ? cols[i].l : 0.0f;
  }
  for (int c = 0; c < 3; ++c) {
    const uint8_t* in = src + c * plane;
    for (int r = 0; r < used; ++r) {  // across: each used source row once
      const uint8_t* s = in + static_cast<int64_t>(first + r) * width;
      for (int i = 0; i < width; ++i) line[i] = static_cast<float>(s[i]) / 255.0f;
      float* across = rows_buffer.data() + static_cast<size_t>(r) * ow;
      for (int px = 0; px < ow; ++px) {
        float value = 0.0f;
        for (int ix = 0; ix < grid_w; ++ix) {
          const size_t k = static_cast<size_t>(px) * grid_w + ix;
          value += wl[k] * line[low[k]] + wh[k] * line[high[k]];
        }
        across[px] = value;
      }
    }
    float* dst = out + c * out_plane;
    for (int py = 0; py < oh; ++py) {  // down: blend the rows of each output row's samples
      float* o = dst + static_cast<int64_t>(py) * ow;
      std::fill(o, o + ow, 0.0f);
      for (int iy = 0; iy < grid_h; ++iy) {
        const Tap& t = rows[static_cast<size_t>(py) * grid_h + iy];
        if (!t.inside) continue;
        const float* a = rows_buffer.data() + static_cast<size_t>(t.low - first) * ow;
        const float* b = rows_buffer.data() + static_cast<size_t>(t.high - first) * ow;
        for (int px = 0; px < ow; ++px) o[px] += t.h * a[px] + t.l * b[px];
      }
      for (int px = 0; px < ow; ++px) o[px] = clamp01(o[px] / count);
    }
  }
}

inline float gray_of(float r, float g, float b) { return kGray[0] * r + kGray[1] * g + kGray[2] * b; }

void brightness(float* x, int64_t plane, float factor) {
  for (int64_t i = 0; i < 3 * plane; ++i) x[i] = clamp01(x[i] * factor);
}

void contrast(float* x, int64_t plane, float factor) {
  double sum = 0.0;
  for (int64_t i = 0; i < plane; ++i) sum += gray_of(x[i], x[plane + i], x[2 * plane + i]);
  const float mean = static_cast<float>(sum / static_cast<double>(plane));
  const float rest = (1.0f - factor) * mean;
  for (int64_t i = 0; i < 3 * plane; ++i) x[i] = clamp01(factor * x[i] + rest);
}

void saturation(float* x, int64_t plane, float factor) {
  const float keep = 1.0f - factor;
  for (int64_t i = 0; i < plane; ++i) {
    const float g = gray_of(x[i], x[plane + i], x[2 * plane + i]);
    for (int c = 0; c < 3; ++c) x[c * plane + i] = clamp01(factor * x[c * plane + i] + keep * g);
  }
}

// torch.remainder(a, 6) for a in (-6, 12): the value torch computes (fmod, then + 6 when negative).
inline float wrap6(float a) { return a < 0.0f ? a + 6.0f : (a >= 6.0f ? a - 6.0f : a); }

// clamp(min(k, 4 - k), 0, 1)
inline float ramp(float k) { return std::min(std::max(std::min(k, 4.0f - k), 0.0f), 1.0f); }

// torchvision's hue shift of one pixel in the reference's closed form (augment.py adjust_hue).
inline void hue_pixel(float* rp, float* gp, float* bp, float offset) {
  const float r = *rp, g = *gp, b = *bp;
  const float v = std::max(std::max(r, g), b);
  const float c = v - std::min(std::min(r, g), b);
  const float safe = std::max(c, 1e-12f);
  // where(v == r, (g - b) / c, where(v == g, (b - r) / c + 2, (r - g) / c + 4)) + 6 shift, mod 6
  const float h6 = wrap6((v == r ? (g - b) / safe : (v == g ? (b - r) / safe + 2.0f : (r - g) / safe + 4.0f)) + offset);
  *rp = v - ramp(wrap6(h6 + 5.0f)) * c;
  *gp = v - ramp(wrap6(h6 + 3.0f)) * c;
  *bp = v - ramp(wrap6(h6 + 1.0f)) * c;
}

#ifdef __SSE2__
// The same four pixels at a time: the compiler does not vectorise the selects of hue_pixel
// (floats may trap), so they are written as SSE2 masks. Same operations, same values.
inline __m128 select(__m128 mask, __m128 a, __m128 b) { return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b)); }

inline __m128 wrap6(__m128 a) {
  const __m128 six = _mm_set1_ps(6.0f);
  const __m128 kept = select(_mm_cmpge_ps(a, six), _mm_sub_ps(a, six), a);
  return select(_mm_cmplt_ps(a, _mm_setzero_ps()), _mm_add_ps(a, six), kept);
}

inline __m128 ramp(__m128 k) {
  return _mm_min_ps(_mm_max_ps(_mm_min_ps(k, _mm_sub_ps(_mm_set1_ps(4.0f), k)), _mm_setzero_ps()), _mm_set1_ps(1.0f));
}

inline void hue_pixels4(float* rp, float* gp, float* bp, float offset) {
  const __m128 r = _mm_loadu_ps(rp), g = _mm_loadu_ps(gp), b = _mm_loadu_ps(bp);
  const __m128 v = _mm_max_ps(_mm_max_ps(r, g), b);
  const __m128 c = _mm_sub_ps(v, _mm_min_ps(_mm_min_ps(r, g), b));
  const __m128 safe = _mm_max_ps(c, _mm_set1_ps(1e-12f));
  const __m128 from_r = _mm_div_ps(_mm_sub_ps(g, b), safe);
  const __m128 from_g = _mm_add_ps(_mm_div_ps(_mm_sub_ps(b, r), safe), _mm_set1_ps(2.0f));
  const __m128 from_b = _mm_add_ps(_mm_div_ps(_mm_sub_ps(r, g), safe), _mm_set1_ps(4.0f));
  const __m128 h = select(_mm_cmpeq_ps(v, r), from_r, select(_mm_cmpeq_ps(v, g), from_g, from_b));
  const __m128 h6 = wrap6(_mm_add_ps(h, _mm_set1_ps(offset)));
  _mm_storeu_ps(rp, _mm_sub_ps(v, _mm_mul_ps(ramp(wrap6(_mm_add_ps(h6, _mm_set1_ps(5.0f)))), c)));
  _mm_storeu_ps(gp, _mm_sub_ps(v, _mm_mul_ps(ramp(wrap6(_mm_add_ps(h6, _mm_set1_ps(3.0f)))), c)));
  _mm_storeu_ps(bp, _mm_sub_ps(v, _mm_mul_ps(ramp(wrap6(_mm_add_ps(h6, _mm_set1_ps(1.0f)))), c)));
}
#endif

void hue(float* x, int64_t plane, float shift) {
  const float offset = 6.0f * shift;
  int64_t i = 0;
#ifdef __SSE2__
  for (; i + 4 <= plane; i += 4) hue_pixels4(x + i, x + plane + i, x + 2 * plane + i, offset);
#endif
  for (; i < plane; ++i) hue_pixel(x + i, x + plane + i, x + 2 * plane + i, offset);
}

void grayscale(float* x, int64_t plane) {
  for (int64_t i = 0; i < plane; ++i) x[i] = x[plane + i] = x[2 * plane + i] = gray_of(x[i], x[plane + i], x[2 * plane + i]);
}

inline int reflect(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

// Separable Gaussian blur of (3, h, w) in place: kernel of radius r, reflect padding (F.pad "reflect").
void blur(float* x, int h, int w, int radius, float sigma, std::vector<float>& tmp, std::vector<float>& row) {
  const int taps = 2 * radius + 1;
  std::vector<float> kernel(taps);
  float total = 0.0f;
  for (int j = 0; j < taps; ++j) {
    const float o = static_cast<float>(j - radius);
    kernel[j] = std::exp(-(o * o) / (2.0f * (sigma * sigma)));
    total += kernel[j];
  }
  for (auto& k : kernel) k /= total;
  const int64_t plane = static_cast<int64_t>(h) * w;
  tmp.resize(3 * plane);
  row.resize(w + 2 * radius);
  for (int c = 0; c < 3; ++c) {
    float* src = x + c * plane;
    float* mid = tmp.data() + c * plane;
    for (int y = 0; y < h; ++y) {  // horizontal: a padded copy of the row, then tap by tap
      const float* in = src + static_cast<int64_t>(y) * w;
      for (int i = 0; i < w + 2 * radius; ++i) row[i] = in[reflect(i - radius, w)];
      float* outp = mid + static_cast<int64_t>(y) * w;
      std::fill(outp, outp + w, 0.0f);
      for (int j = 0; j < taps; ++j) {
        const float k = kernel[j];
        const float* shifted = row.data() + j;
        for (int i = 0; i < w; ++i) outp[i] += k * shifted[i];
      }
    }
    for (int y = 0; y < h; ++y) {  // vertical, back into x
      float* outp = src + static_cast<int64_t>(y) * w;
      std::fill(outp, outp + w, 0.0f);
      for (int j = 0; j < taps; ++j) {
        const float k = kernel[j];
        const float* in = mid + static_cast<int64_t>(reflect(y + j - radius, h)) * w;
        for (int i = 0; i < w; ++i) outp[i] += k * in[i];
      }
    }
  }
}

void flip_and_normalize(float* x, int h, int w, bool flip, const float* scale, const float* bias) {
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < h; ++y) {
      float* r = x + (static_cast<int64_t>(c) * h + y) * w;
      if (flip) std::reverse(r, r + w);
      for (int i = 0; i < w; ++i) r[i] = bias[c] + r[i] * scale[c];
    }
}

}  // namespace

at::Tensor clip_augment(const at::Tensor& frames, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                        const at::Tensor& order, const at::Tensor& factors, const at::Tensor& gray,
                        const at::Tensor& radius, const at::Tensor& sigma, const at::Tensor& flip,
                        const at::Tensor& scale, const at::Tensor& bias) {
  const int64_t n = frames.size(0);
  const int height = static_cast<int>(frames.size(2)), width = static_cast<int>(frames.size(3));
  const int oh = static_cast<int>(out_h), ow = static_cast<int>(out_w);
  auto out = at::empty({n, 3, out_h, out_w}, frames.options().dtype(at::kFloat));
  const uint8_t* src = frames.data_ptr<uint8_t>();
  const float* box = boxes.data_ptr<float>();
  const int64_t* ops = order.data_ptr<int64_t>();
  const float* factor = factors.data_ptr<float>();
  const bool* to_gray = gray.data_ptr<bool>();
  const int64_t* radii = radius.data_ptr<int64_t>();
  const float* sigmas = sigma.data_ptr<float>();
  const bool* flips = flip.data_ptr<bool>();
  const float* sc = scale.data_ptr<float>();
  const float* bi = bias.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const int64_t in_frame = 3LL * height * width, plane = static_cast<int64_t>(oh) * ow;
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> tmp, row;
    for (int64_t f = begin; f < end; ++f) {
      float* x = dst + f * 3 * plane;
      resized_crop(src + f * in_frame, height, width, box + 4 * f, oh, ow, x, tmp);
      for (int stage = 0; stage < 4; ++stage) {
        const int64_t op = ops[4 * f + stage];
        if (op < 0) continue;
        const float value = factor[4 * f + op];
        if (op == 0) brightness(x, plane, value);
        else if (op == 1) contrast(x, plane, value);
        else if (op == 2) saturation(x, plane, value);
        else hue(x, plane, value);
      }
      if (to_gray[f]) grayscale(x, plane);
      if (radii[f] > 0) blur(x, oh, ow, static_cast<int>(radii[f]), sigmas[f], tmp, row);
      flip_and_normalize(x, oh, ow, flips[f], sc, bi);
    }
  });
  return out;
}

at::Tensor normalize_uint8(const at::Tensor& frames, const at::Tensor& table) {
  auto out = at::empty(frames.sizes(), frames.options().dtype(at::kFloat));
  const int64_t plane = frames.size(-1) * frames.size(-2);
  const int64_t images = plane == 0 ? 0 : frames.numel() / (3 * plane);
  const float* lut = table.data_ptr<float>();
  const uint8_t* src = frames.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, images * 3, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* values = lut + 256 * (p % 3);
      const uint8_t* in = src + p * plane;
      float* o = dst + p * plane;
      for (int64_t i = 0; i < plane; ++i) o[i] = values[in[i]];
    }
  });
  return out;
}

}  // namespace surgvlp::augment
