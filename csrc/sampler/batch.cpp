#include "batch.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>
#include <thread>

#include "decoder.h"

namespace surgvlp::sampler {

namespace {

// The frames a clip decodes: each run of its frames that shares a keyframe costs the frames from that
// keyframe to the run's last. Bad numbers cost nothing here (the decoder reports them).
int64_t decode_cost(const BatchVideo& video, const std::vector<int64_t>& numbers) {
  const int64_t frames = static_cast<int64_t>(video.keyframe.size());
  int64_t cost = 0, key = -1, last = -1;
  for (const int64_t number : numbers) {
    if (number < 0 || number >= frames) return cost;
    int64_t k = number;
    while (k > 0 && !video.keyframe[k]) --k;
    if (k != key) {
      if (key >= 0) cost += last - key + 1;
      key = k;
    }
    last = number;
  }
  return key >= 0 ? cost + last - key + 1 : cost;
}

// Longest clips first (ties in input order): the last clips to start are short ones, so no thread
// sits idle while another decodes a long clip alone at the end of the batch.
std::vector<size_t> longest_first(const std::vector<BatchVideo>& videos, const std::vector<BatchClip>& clips) {
  std::vector<int64_t> cost(clips.size(), 0);
  for (size_t c = 0; c < clips.size(); ++c)
    if (clips[c].video < videos.size()) cost[c] = decode_cost(videos[clips[c].video], clips[c].numbers);
  std::vector<size_t> order(clips.size());
  for (size_t c = 0; c < order.size(); ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  return order;
}

}  // namespace

std::vector<BatchResult> decode_batch(const std::vector<BatchVideo>& videos, const std::vector<BatchClip>& clips,
                                      int threads) {
  std::vector<BatchResult> results(clips.size());
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(1, threads)), clips.size());
  if (workers == 0) return results;
  const std::vector<size_t> order = workers > 1 ? longest_first(videos, clips) : std::vector<size_t>();
  std::atomic<size_t> next{0};
  auto work = [&]() {
    std::unique_ptr<Decoder> decoder;
    size_t open_video = SIZE_MAX;
    for (size_t k = next++; k < clips.size(); k = next++) {
      const size_t c = order.empty() ? k : order[k];
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
