// The NV12 -> RGB24 + crop + resize kernel (nv12_resize.cu), callable from plain C++.
#pragma once
#include <cstdint>

namespace surgvlp::sampler {

struct Nv12Image {
  const uint8_t* luma;    // device pointer, `luma_pitch` bytes per row
  const uint8_t* chroma;  // device pointer, interleaved U V at half resolution, `chroma_pitch` bytes per row
  int luma_pitch, chroma_pitch;
  bool bt709;       // else BT.601
  bool full_range;  // else limited (16-235)
};

// out: device (out_h, out_w, 3) uint8, contiguous. The crop (x, y, w, h) is in source pixels.
// Resampling: the separable triangle filter of torch's bilinear interpolation with antialias.
void nv12_to_rgb_crop_resize(const Nv12Image& image, int x, int y, int w, int h, uint8_t* out, int out_h,
                             int out_w, void* cuda_stream);

}  // namespace surgvlp::sampler
