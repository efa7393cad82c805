#include "batch.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>
#include <thread>

#include "decoder.h"

namespace surgvlp::sampler {

std::vector<BatchResult> decode_batch(const std::vector<BatchVideo>& videos, const std::vector<BatchClip>& clips,
                                      int threads) {
  std::vector<BatchResult> results(clips.size());
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(1, threads)), clips.size());
  if (workers == 0) return results;
  std::atomic<size_t> next{0};
  auto work = [&]() {
    std::unique_ptr<Decoder> decoder;
    size_t open_video = SIZE_MAX;
    for (size_t c = next++; c < clips.size(); c = next++) {
      const BatchClip& clip = clips[c];
      try {
        if (clip.video >= videos.size()) throw VideoFailure("clip refers to a video that is not in the batch");
        if (!decoder || open_video != clip.video) {
          decoder.reset();
          open_video = SIZE_MAX;
          const BatchVideo& v = videos[clip.video];
          decoder = std::make_unique<Decoder>(v.path, v.stream_index, v.pts, v.keyframe, 1, -1);
          open_video = clip.video;
        }
        results[c].frames = decoder->decode_rgb(clip.numbers);
      } catch (const std::exception& err) {
        results[c].error = err.what();
        decoder.reset();  // its state after a failure is unknown: the next clip opens a fresh one
        open_video = SIZE_MAX;
      } catch (...) {
        results[c].error = "unknown error while decoding";
        decoder.reset();
        open_video = SIZE_MAX;
      }
    }
  };
  std::vector<std::thread> pool;
  try {
    for (size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  } catch (const std::system_error&) {  // no more threads to be had: those started share the clips
  }
  work();
  for (auto& t : pool) t.join();
  return results;
}

}  // namespace surgvlp::sampler
