// NVDEC through FFmpeg's CUDA hwaccel (compiled with SURGVLP_WITH_CUDA only; nvdec_cuda.cpp).
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "decoder.h"
#include "ffmpeg_util.h"

namespace surgvlp::sampler {

// Attach a CUDA device to `codec` before avcodec_open2. Returns false (and says why in `status`)
// when FFmpeg has no CUDA hwaccel for this codec or the device cannot be created.
bool enable_nvdec(AVCodecContext* codec, int device, std::string* status);

// Write one decoded frame into `out` (out_h, out_w, 3) uint8 on the GPU: NV12 -> RGB + crop +
// resize by our kernel for CUDA frames; software frames (FFmpeg's fallback) are converted on the
// CPU by `decoder` and resized with ATen, then copied.
void convert_to_cuda(Decoder& decoder, const AVFrame* frame, const CropResize& geometry, at::Tensor out);

}  // namespace surgvlp::sampler
