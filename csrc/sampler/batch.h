// Decoding a batch of clips (of one or many videos) on a pool of threads: one decoder per clip in
// flight, each with one FFmpeg thread, so the parallelism comes from independent clips rather than
// from one clip's reference chain. Results come back in input order; a clip that fails (a missing
// or corrupt file, a bad frame number) has an error message and no frames, and never fails the
// others. Threads are started per call and joined before it returns (fork-safe).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace surgvlp::sampler {

// One video's frame index, shared by its clips.
struct BatchVideo {
  std::string path;
  int stream_index = 0;
  std::vector<int64_t> pts;
  std::vector<uint8_t> keyframe;
};

// One clip: which video, and its frames (sorted, unique frame numbers).
struct BatchClip {
  size_t video = 0;
  std::vector<int64_t> numbers;
};

struct BatchResult {
  at::Tensor frames;  // (N, H, W, 3) uint8 at stored size; undefined when `error` is set
  std::string error;
};

// Decodes every clip on up to `threads` threads, longest first (frames to decode, from the keyframe
// index). A worker keeps its decoder while the clips it takes
// are of the same video (no reopening), and opens another for a clip of a different one.
std::vector<BatchResult> decode_batch(const std::vector<BatchVideo>& videos, const std::vector<BatchClip>& clips,
                                      int threads);

}  // namespace surgvlp::sampler
