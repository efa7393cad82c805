// Decoding the frames a clip needs: one seek to the keyframe before the first wanted frame,
// decode forward, convert only the frames kept.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ffmpeg_util.h"

namespace surgvlp::sampler {

// A crop in stored pixels and an output size, for the GPU path (the CPU path returns full frames).
struct CropResize {
  int x = 0, y = 0, w = 0, h = 0;  // w == 0: the whole frame
  int out_h = 0, out_w = 0;        // 0: the crop's size
};

class Decoder {
 public:
  // pts / keyframe: the stream's frame index (sorted presentation time stamps); cuda_device < 0
  // decodes on the CPU, >= 0 asks for NVDEC on that GPU (CPU fallback when unsupported).
  Decoder(std::string path, int stream_index, std::vector<int64_t> pts, std::vector<uint8_t> keyframe,
          int threads, int cuda_device);

  // Frames `numbers` (sorted, unique) as RGB24: CPU path (N, H, W, 3) uint8 at stored size.
  at::Tensor decode_rgb(const std::vector<int64_t>& numbers);
  // The same into `out`: numbers.size() frames of height() * width() * 3 bytes.
  void decode_rgb_into(const std::vector<int64_t>& numbers, uint8_t* out);
  // GPU path: (N, out_h, out_w, 3) uint8 CUDA tensor, NV12 -> RGB + crop + resize in one kernel.
  at::Tensor decode_cuda(const std::vector<int64_t>& numbers, const CropResize& geometry);

  bool on_gpu() const { return on_gpu_; }
  const std::string& gpu_status() const { return gpu_status_; }
  int64_t decoded_frames() const { return decoded_frames_; }
  int64_t seeks() const { return seeks_; }
  int width() const { return width_; }
  int height() const { return height_; }
  // The frame number of the last keyframe at or before frame `number`.
  int64_t keyframe_before(int64_t number) const;
  // Throws VideoFailure unless `numbers` are sorted, unique frame numbers of the stream.
  void check_numbers(const std::vector<int64_t>& numbers) const;

 private:
  void run(const std::vector<int64_t>& numbers, const std::function<void(AVFrame*, int64_t)>& keep);
  void seek_to(int64_t frame_number);
  bool next_frame(AVFrame* frame);
  int64_t number_of(int64_t pts) const;

 public:
  // The CPU colour conversion: RGB24 at stored size into `out` (height * width * 3 bytes).
  void convert_cpu(const AVFrame* frame, uint8_t* out);

 private:

  std::string path_;
  int stream_index_;
  std::vector<int64_t> pts_;
  std::vector<uint8_t> keyframe_;
  std::vector<uint8_t> scratch_;  // convert_cpu's padded rows for widths that are not a multiple of 16
  FormatPtr fmt_;
  CodecPtr codec_;
  PacketPtr packet_;
  SwsContext* sws_ = nullptr;  // owned, freed in the destructor (sws_getCachedContext reuses it)
  int width_ = 0, height_ = 0;
  bool draining_ = false;
  bool on_gpu_ = false;
  int cuda_device_ = -1;
  std::string gpu_status_ = "cpu";
  int64_t decoded_frames_ = 0;
  int64_t seeks_ = 0;
  int64_t skip_below_pts_ = INT64_MIN;  // non-reference frames before this time are not decoded

 public:
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
};

}  // namespace surgvlp::sampler
