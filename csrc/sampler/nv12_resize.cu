#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "nv12_resize.h"

namespace surgvlp::sampler {
namespace {

__device__ inline float triangle(float x) {
  x = fabsf(x);
  return x < 1.f ? 1.f - x : 0.f;
}

__device__ inline void yuv_to_rgb(float Y, float U, float V, bool bt709, bool full, float rgb[3]) {
  float y = full ? Y : (Y - 16.f) * (255.f / 219.f);
  float u = (U - 128.f) * (full ? 1.f : 255.f / 224.f);
  float v = (V - 128.f) * (full ? 1.f : 255.f / 224.f);
  float r, g, b;
  if (bt709) {
    r = y + 1.5748f * v;
    g = y - 0.187324f * u - 0.468124f * v;
    b = y + 1.8556f * u;
  } else {
    r = y + 1.402f * v;
    g = y - 0.344136f * u - 0.714136f * v;
    b = y + 1.772f * u;
  }
  rgb[0] = fminf(fmaxf(r, 0.f), 255.f);
  rgb[1] = fminf(fmaxf(g, 0.f), 255.f);
  rgb[2] = fminf(fmaxf(b, 0.f), 255.f);
}

// One thread per output pixel: the source window of the antialiased bilinear filter, each source
// pixel converted from NV12 (nearest chroma sample, as swscale's unscaled converter) and weighted.
__global__ void nv12_rgb_resize_kernel(Nv12Image image, int crop_x, int crop_y, int crop_w, int crop_h,
                                       uint8_t* out, int out_h, int out_w) {
  int ox = blockIdx.x * blockDim.x + threadIdx.x;
  int oy = blockIdx.y * blockDim.y + threadIdx.y;
  if (ox >= out_w || oy >= out_h) return;
  float scale_x = static_cast<float>(crop_w) / out_w, scale_y = static_cast<float>(crop_h) / out_h;
  float support_x = scale_x >= 1.f ? scale_x : 1.f, support_y = scale_y >= 1.f ? scale_y : 1.f;
  float inv_x = 1.f / support_x, inv_y = 1.f / support_y;
  float center_x = scale_x * (ox + 0.5f), center_y = scale_y * (oy + 0.5f);
  int x0 = max(static_cast<int>(center_x - support_x + 0.5f), 0);
  int x1 = min(static_cast<int>(center_x + support_x + 0.5f), crop_w);
  int y0 = max(static_cast<int>(center_y - support_y + 0.5f), 0);
  int y1 = min(static_cast<int>(center_y + support_y + 0.5f), crop_h);
  float acc[3] = {0.f, 0.f, 0.f}, total = 0.f;
  for (int sy = y0; sy < y1; ++sy) {
    float wy = triangle((sy - center_y + 0.5f) * inv_y);
    if (wy == 0.f) continue;
    int py = crop_y + sy;
    const uint8_t* luma_row = image.luma + static_cast<size_t>(py) * image.luma_pitch;
    const uint8_t* chroma_row = image.chroma + static_cast<size_t>(py >> 1) * image.chroma_pitch;
    for (int sx = x0; sx < x1; ++sx) {
      float w = wy * triangle((sx - center_x + 0.5f) * inv_x);
      if (w == 0.f) continue;
      int px = crop_x + sx;
      float rgb[3];
      yuv_to_rgb(luma_row[px], chroma_row[px & ~1], chroma_row[(px & ~1) + 1], image.bt709, image.full_range, rgb);
      acc[0] += w * rgb[0];
      acc[1] += w * rgb[1];
      acc[2] += w * rgb[2];
      total += w;
    }
  }
  uint8_t* pixel = out + (static_cast<size_t>(oy) * out_w + ox) * 3;
  for (int c = 0; c < 3; ++c) pixel[c] = static_cast<uint8_t>(fminf(fmaxf(rintf(acc[c] / total), 0.f), 255.f));
}

}  // namespace

void nv12_to_rgb_crop_resize(const Nv12Image& image, int x, int y, int w, int h, uint8_t* out, int out_h,
                             int out_w, void* cuda_stream) {
  dim3 block(32, 8);
  dim3 grid((out_w + block.x - 1) / block.x, (out_h + block.y - 1) / block.y);
  nv12_rgb_resize_kernel<<<grid, block, 0, static_cast<cudaStream_t>(cuda_stream)>>>(image, x, y, w, h, out, out_h,
                                                                                     out_w);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("NV12 kernel launch failed: ") + cudaGetErrorString(err));
}

}  // namespace surgvlp::sampler
