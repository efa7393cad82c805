// The frame index of a video stream, read by demuxing only (no decoding).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace surgvlp::sampler {

struct ScanResult {
  std::vector<int64_t> pts;       // presentation time stamps in time_base units, demux order
  std::vector<int64_t> duration;  // packet durations (0 when unknown)
  std::vector<uint8_t> keyframe;
  int time_base_num = 0, time_base_den = 1;
  int width = 0, height = 0;
  double rotation = 0.0;
  std::string codec;
  int stream_index = -1;
};

ScanResult scan_video(const std::string& path);

}  // namespace surgvlp::sampler
