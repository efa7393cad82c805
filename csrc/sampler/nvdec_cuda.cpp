// NVDEC through FFmpeg's CUDA hwaccel, and the conversion of decoded frames into CUDA tensors.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "nv12_resize.h"
#include "nvdec.h"

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>
}

namespace surgvlp::sampler {
namespace {

constexpr int kUsePrimaryContext = 1;  // AV_CUDA_USE_PRIMARY_CONTEXT: share PyTorch's CUDA context

AVPixelFormat pick_cuda_format(AVCodecContext*, const AVPixelFormat* formats) {
  for (const AVPixelFormat* p = formats; *p != AV_PIX_FMT_NONE; ++p)
    if (*p == AV_PIX_FMT_CUDA) return *p;
  for (const AVPixelFormat* p = formats; *p != AV_PIX_FMT_NONE; ++p)  // FFmpeg's software fallback
    if (!(av_pix_fmt_desc_get(*p)->flags & AV_PIX_FMT_FLAG_HWACCEL)) return *p;
  return AV_PIX_FMT_NONE;
}

// Software frames (or CUDA frames in a format the kernel does not read) take the CPU pipeline:
// swscale to RGB, crop, ATen's antialiased bilinear resize, then a copy to the GPU.
void convert_on_cpu(Decoder& decoder, const AVFrame* frame, const CropResize& g, at::Tensor out) {
  FramePtr downloaded;
  if (frame->format == AV_PIX_FMT_CUDA) {
    downloaded.reset(av_frame_alloc());
    int ret = av_hwframe_transfer_data(downloaded.get(), frame, 0);
    if (ret < 0) throw VideoFailure("cannot download a GPU frame (" + av_error_text(ret) + ")");
    frame = downloaded.get();
  }
  auto rgb = at::empty({frame->height, frame->width, 3}, at::kByte);
  decoder.convert_cpu(frame, rgb.data_ptr<uint8_t>());
  auto chw = rgb.slice(0, g.y, g.y + g.h).slice(1, g.x, g.x + g.w).permute({2, 0, 1}).unsqueeze(0);
  auto resized = (g.out_h == g.h && g.out_w == g.w)
                     ? chw
                     : at::_upsample_bilinear2d_aa(chw, {g.out_h, g.out_w}, /*align_corners=*/false);
  out.copy_(resized.squeeze(0).permute({1, 2, 0}));
}

}  // namespace

bool enable_nvdec(AVCodecContext* codec, int device, std::string* status) {
  bool supported = false;
  for (int i = 0;; ++i) {
    const AVCodecHWConfig* config = avcodec_get_hw_config(codec->codec, i);
    if (config == nullptr) break;
    if (config->device_type == AV_HWDEVICE_TYPE_CUDA && (config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX))
      supported = true;
  }
  if (!supported) {
    *status = std::string("FFmpeg has no CUDA hwaccel for ") + codec->codec->name + ": decoding on the CPU";
    return false;
  }
  AVBufferRef* device_ctx = nullptr;
  int ret = av_hwdevice_ctx_create(&device_ctx, AV_HWDEVICE_TYPE_CUDA, std::to_string(device).c_str(), nullptr,
                                   kUsePrimaryContext);
  if (ret < 0) {
    *status = "cannot open CUDA device " + std::to_string(device) + " for NVDEC (" + av_error_text(ret) +
              "): decoding on the CPU";
    return false;
  }
  codec->hw_device_ctx = device_ctx;  // the codec context owns it now
  codec->get_format = pick_cuda_format;
  *status = "nvdec on cuda:" + std::to_string(device);
  return true;
}

void convert_to_cuda(Decoder& decoder, const AVFrame* frame, const CropResize& g, at::Tensor out) {
  const c10::cuda::CUDAGuard guard(out.device());
  bool nv12 = false;
  if (frame->format == AV_PIX_FMT_CUDA && frame->hw_frames_ctx != nullptr) {
    auto* frames_ctx = reinterpret_cast<AVHWFramesContext*>(frame->hw_frames_ctx->data);
    nv12 = frames_ctx->sw_format == AV_PIX_FMT_NV12;
  }
  if (!nv12) {
    convert_on_cpu(decoder, frame, g, out);
    return;
  }
  Nv12Image image{frame->data[0], frame->data[1], frame->linesize[0], frame->linesize[1],
                  frame->colorspace == AVCOL_SPC_BT709, frame->color_range == AVCOL_RANGE_JPEG};
  // FFmpeg's NVDEC copies into the frame on the legacy default stream, which orders it before
  // work on PyTorch's current (default) stream.
  nv12_to_rgb_crop_resize(image, g.x, g.y, g.w, g.h, out.data_ptr<uint8_t>(), g.out_h, g.out_w,
                          c10::cuda::getCurrentCUDAStream(out.device().index()).stream());
}

}  // namespace surgvlp::sampler
