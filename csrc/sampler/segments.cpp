#include "segments.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>

namespace surgvlp::sampler {

SegmentDecoder::SegmentDecoder(std::string path, int stream_index, std::vector<int64_t> pts,
                               std::vector<uint8_t> keyframe, int threads)
    : path_(std::move(path)), stream_index_(stream_index), pts_(std::move(pts)), keyframe_(std::move(keyframe)),
      threads_(std::max(1, threads)) {
  decoders_.push_back(std::make_unique<Decoder>(path_, stream_index_, pts_, keyframe_, threads_, -1));
}

int64_t SegmentDecoder::decoded_frames() const {
  int64_t total = 0;
  for (const auto& d : decoders_) total += d->decoded_frames();
  return total;
}

int64_t SegmentDecoder::seeks() const {
  int64_t total = 0;
  for (const auto& d : decoders_) total += d->seeks();
  return total;
}

at::Tensor SegmentDecoder::decode_rgb(const std::vector<int64_t>& numbers) {
  Decoder& first = *decoders_[0];
  first.check_numbers(numbers);
  // segments: [begin, end) ranges of `numbers` that follow the same keyframe
  std::vector<std::pair<size_t, size_t>> segments;
  for (size_t k = 0; k < numbers.size(); ++k) {
    if (k == 0 || first.keyframe_before(numbers[k]) != first.keyframe_before(numbers[k - 1]))
      segments.emplace_back(k, k + 1);
    else
      segments.back().second = k + 1;
  }
  const size_t workers = std::min<size_t>(threads_, segments.size());
  if (workers <= 1) return first.decode_rgb(numbers);
  while (decoders_.size() < workers)
    decoders_.push_back(std::make_unique<Decoder>(path_, stream_index_, pts_, keyframe_, 1, -1));

  auto out = at::empty({static_cast<int64_t>(numbers.size()), first.height(), first.width(), 3}, at::kByte);
  uint8_t* base = out.data_ptr<uint8_t>();
  const size_t frame_bytes = static_cast<size_t>(first.height()) * first.width() * 3;
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(workers);
  auto work = [&](size_t w) {
    try {
      for (size_t s = next++; s < segments.size(); s = next++) {
        auto [begin, end] = segments[s];
        std::vector<int64_t> part(numbers.begin() + begin, numbers.begin() + end);
        decoders_[w]->decode_rgb_into(part, base + begin * frame_bytes);
      }
    } catch (...) {
      errors[w] = std::current_exception();
      next = segments.size();  // the others stop after their segment
    }
  };
  std::vector<std::thread> pool;
  try {
    for (size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
  } catch (const std::system_error&) {  // no more threads to be had: those started share the segments
  }
  work(0);
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace surgvlp::sampler
