// Decoding one request on several threads: the wanted frames that follow different keyframes
// (keyframe segments) are independent, so N decoders of the same file decode N segments at a
// time, each on one thread. A request within one segment runs on the first decoder, whose frame
// threads (FFmpeg's) are then the only parallelism. Threads are started per request and joined
// before it returns (nothing outlives a call: fork-safe).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decoder.h"

namespace surgvlp::sampler {

class SegmentDecoder {
 public:
  SegmentDecoder(std::string path, int stream_index, std::vector<int64_t> pts, std::vector<uint8_t> keyframe,
                 int threads);

  // Frames `numbers` (sorted, unique) as RGB24 (N, H, W, 3) uint8 at stored size.
  at::Tensor decode_rgb(const std::vector<int64_t>& numbers);
  int64_t decoded_frames() const;
  int64_t seeks() const;
  int64_t decoders() const { return static_cast<int64_t>(decoders_.size()); }

 private:
  std::string path_;
  int stream_index_;
  std::vector<int64_t> pts_;
  std::vector<uint8_t> keyframe_;
  int threads_;
  // [0]: FFmpeg frame threads = threads, opened at once; [1..threads-1]: one thread each, opened
  // when a request first has that many segments
  std::vector<std::unique_ptr<Decoder>> decoders_;
};

}  // namespace surgvlp::sampler
