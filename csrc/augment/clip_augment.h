// The clip-level augmentation chain (surgvlp_fast/pretrain/augment.py, the reference) on uint8
// frames in one call: per frame, the random resized crop (torchvision's roi_align, aligned,
// adaptive sampling), the colour jitter in its drawn order, grayscale, Gaussian blur, flip and
// the ImageNet normalisation, each a pass over one frame's float buffer (which stays in cache),
// frames spread over threads. The random draws are made by the caller (the reference's
// sample_parameters), so for the same draws the pixels equal the reference's up to float rounding.
#pragma once
#include <ATen/ATen.h>

namespace surgvlp::augment {

// frames (N, 3, H, W) uint8 contiguous; boxes (N, 4) float32 x0, y0, x1, y1;
// order (N, 4) int64: jitter op per stage (0 brightness, 1 contrast, 2 saturation, 3 hue), -1 = none;
// factors (N, 4) float32: brightness, contrast, saturation factors and hue shift;
// gray, flip (N,) bool; radius (N,) int64 blur radius (0 = no blur); sigma (N,) float32;
// scale, bias (3,) float32: the normalisation bias + x * scale of [0, 1] pixels.
// Returns (N, 3, out_h, out_w) float32 normalised.
at::Tensor clip_augment(const at::Tensor& frames, const at::Tensor& boxes, int64_t out_h, int64_t out_w,
                        const at::Tensor& order, const at::Tensor& factors, const at::Tensor& gray,
                        const at::Tensor& radius, const at::Tensor& sigma, const at::Tensor& flip,
                        const at::Tensor& scale, const at::Tensor& bias);

// (..., 3, H, W) uint8 contiguous -> float32 table[channel][value]: a table (3, 256) of the
// normalised values (made by preprocess.normalize itself, so the result is the same bit for bit).
at::Tensor normalize_uint8(const at::Tensor& frames, const at::Tensor& table);

}  // namespace surgvlp::augment
