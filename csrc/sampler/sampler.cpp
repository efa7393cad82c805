// Python bindings of the FFmpeg frame sampler: surgvlp_fast._C.sampler.
#include "registry.h"

#include <memory>
#include <mutex>

#include "batch.h"
#include "decoder.h"
#include "scan.h"
#include "segments.h"

namespace py = pybind11;
using surgvlp::sampler::BatchClip;
using surgvlp::sampler::BatchVideo;
using surgvlp::sampler::CropResize;
using surgvlp::sampler::Decoder;
using surgvlp::sampler::SegmentDecoder;
using surgvlp::sampler::VideoFailure;

namespace {

template <typename T>
at::Tensor to_tensor(const std::vector<T>& values, at::ScalarType type) {
  auto out = at::empty({static_cast<int64_t>(values.size())}, type);
  std::copy(values.begin(), values.end(), out.data_ptr<T>());
  return out;
}

template <typename T>
std::vector<T> to_vector(const at::Tensor& t, at::ScalarType type, const char* name) {
  TORCH_CHECK(t.dim() == 1 && t.device().is_cpu(), name, " must be a 1-D CPU tensor, got shape ", t.sizes(),
              " on ", t.device());
  auto c = t.to(type).contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

py::dict scan(const std::string& path) {
  surgvlp::sampler::ScanResult r;
  {
    py::gil_scoped_release released;
    r = surgvlp::sampler::scan_video(path);
  }
  py::dict out;
  out["pts"] = to_tensor(r.pts, at::kLong);
  out["duration"] = to_tensor(r.duration, at::kLong);
  out["keyframe"] = to_tensor(r.keyframe, at::kByte);
  out["time_base"] = py::make_tuple(r.time_base_num, r.time_base_den);
  out["width"] = r.width;
  out["height"] = r.height;
  out["rotation"] = r.rotation;
  out["codec"] = r.codec;
  out["stream_index"] = r.stream_index;
  return out;
}

// A reader's decoder, its calls serialised (a reader may be shared between threads): on the CPU
// the keyframe segments of a request spread over `threads` decoders; for a GPU one NVDEC decoder.
struct Reader {
  std::mutex mutex;
  std::unique_ptr<SegmentDecoder> cpu;
  std::unique_ptr<Decoder> gpu;

  at::Tensor decode_rgb(const std::vector<int64_t>& numbers) {
    return cpu ? cpu->decode_rgb(numbers) : gpu->decode_rgb(numbers);
  }
  int64_t decoded_frames() const { return cpu ? cpu->decoded_frames() : gpu->decoded_frames(); }
  int64_t seeks() const { return cpu ? cpu->seeks() : gpu->seeks(); }
};

std::vector<int64_t> checked_numbers(const at::Tensor& numbers) {
  TORCH_CHECK(!numbers.is_floating_point(), "frame numbers must be integers, got ", numbers.scalar_type());
  return to_vector<int64_t>(numbers, at::kLong, "frame numbers");
}

// decode_clips' checked boundary: videos are (path, stream_index, pts, keyframe) tuples, clips are
// (video, frame numbers) tuples; malformed input raises (ValueError / TypeError), a clip that cannot
// be decoded is reported in its result and never fails the others.
py::list decode_clips(const py::sequence& videos, const py::sequence& clips, int threads) {
  TORCH_CHECK_VALUE(threads >= 1, "decode_clips: threads must be >= 1, got ", threads);
  std::vector<BatchVideo> vs;
  vs.reserve(videos.size());
  for (size_t i = 0; i < videos.size(); ++i) {
    py::object item = videos[i];
    TORCH_CHECK_TYPE(py::isinstance<py::tuple>(item) && py::len(item) == 4, "decode_clips: video ", i,
                     " must be a (path, stream_index, pts, keyframe) tuple");
    auto t = item.cast<py::tuple>();
    BatchVideo v;
    try {
      v.path = t[0].cast<std::string>();
      v.stream_index = t[1].cast<int>();
      v.pts = to_vector<int64_t>(t[2].cast<at::Tensor>(), at::kLong, "pts");
      v.keyframe = to_vector<uint8_t>(t[3].cast<at::Tensor>(), at::kByte, "keyframe");
    } catch (const py::cast_error&) {
      TORCH_CHECK_TYPE(false, "decode_clips: video ", i, " must be (str, int, Tensor, Tensor)");
    }
    TORCH_CHECK_VALUE(v.pts.size() == v.keyframe.size(), "decode_clips: video ", i, " (", v.path,
                      "): pts and keyframe lengths differ (", v.pts.size(), " vs ", v.keyframe.size(), ")");
    vs.push_back(std::move(v));
  }
  std::vector<BatchClip> cs;
  cs.reserve(clips.size());
  for (size_t i = 0; i < clips.size(); ++i) {
    py::object item = clips[i];
    TORCH_CHECK_TYPE(py::isinstance<py::tuple>(item) && py::len(item) == 2, "decode_clips: clip ", i,
                     " must be a (video, frame numbers) tuple");
    auto t = item.cast<py::tuple>();
    BatchClip c;
    int64_t video = -1;
    at::Tensor numbers;
    try {
      video = t[0].cast<int64_t>();
      numbers = t[1].cast<at::Tensor>();
    } catch (const py::cast_error&) {
      TORCH_CHECK_TYPE(false, "decode_clips: clip ", i, " must be (int, Tensor)");
    }
    TORCH_CHECK_VALUE(video >= 0 && video < static_cast<int64_t>(vs.size()), "decode_clips: clip ", i,
                      " refers to video ", video, ", but the batch has ", vs.size(), " videos");
    c.video = static_cast<size_t>(video);
    c.numbers = checked_numbers(numbers);
    cs.push_back(std::move(c));
  }
  std::vector<surgvlp::sampler::BatchResult> results;
  {
    py::gil_scoped_release released;
    results = surgvlp::sampler::decode_batch(vs, cs, threads);
  }
  py::list out;
  for (auto& r : results) {
    if (r.error.empty())
      out.append(py::make_tuple(r.frames, py::none()));
    else
      out.append(py::make_tuple(py::none(), r.error));
  }
  return out;
}

std::string ffmpeg_versions() {
  auto v = [](unsigned x) {
    return std::to_string(AV_VERSION_MAJOR(x)) + "." + std::to_string(AV_VERSION_MINOR(x)) + "." +
           std::to_string(AV_VERSION_MICRO(x));
  };
  std::string text = "FFmpeg " + std::string(av_version_info()) + " (libavformat " + v(avformat_version()) +
                     ", libavcodec " + v(avcodec_version()) + ", libavutil " + v(avutil_version()) +
                     ", libswscale " + v(swscale_version()) + ")";
#ifdef SURGVLP_WITH_CUDA
  text += "; NVDEC: compiled (FFmpeg CUDA hwaccel + NV12->RGB kernel)";
#else
  text += "; NVDEC: not compiled";
#endif
  return text;
}

void init(py::module_& m) {
  m.doc() = "FFmpeg frame sampler: frame index scan and seek-once decoding of the frames kept";
  py::register_exception<VideoFailure>(m, "VideoFailure", PyExc_RuntimeError);
  m.def("scan", &scan, py::arg("path"),
        "Demux the video stream: dict of pts, duration, keyframe (tensors), time_base, width, height, "
        "rotation, codec, stream_index. Raises VideoFailure.");
  m.def("describe", &ffmpeg_versions);
  m.def("decode_clips", &decode_clips, py::arg("videos"), py::arg("clips"), py::arg("threads") = 1,
        "Decode a batch of clips on `threads` threads, one decoder per clip in flight. videos: "
        "(path, stream_index, pts, keyframe) tuples; clips: (video, sorted unique frame numbers) tuples. "
        "Returns, in input order, (frames (N, H, W, 3) uint8 at stored size, None) or (None, error message).");
#ifdef SURGVLP_WITH_CUDA
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
  py::class_<Reader>(m, "Reader")
      .def(py::init([](const std::string& path, int stream_index, const at::Tensor& pts, const at::Tensor& keyframe,
                       int threads, int cuda_device) {
             auto pts_v = to_vector<int64_t>(pts, at::kLong, "pts");
             auto key_v = to_vector<uint8_t>(keyframe, at::kByte, "keyframe");
             TORCH_CHECK(threads >= 1, "threads must be >= 1, got ", threads);
             auto reader = std::make_unique<Reader>();
             py::gil_scoped_release released;
             if (cuda_device < 0)
               reader->cpu = std::make_unique<SegmentDecoder>(path, stream_index, std::move(pts_v), std::move(key_v),
                                                              threads);
             else
               reader->gpu = std::make_unique<Decoder>(path, stream_index, std::move(pts_v), std::move(key_v),
                                                       threads, cuda_device);
             return reader;
           }),
           py::arg("path"), py::arg("stream_index"), py::arg("pts"), py::arg("keyframe"), py::arg("threads") = 1,
           py::arg("cuda_device") = -1)
      .def(
          "decode",
          [](Reader& r, const at::Tensor& numbers) {
            auto v = checked_numbers(numbers);
            py::gil_scoped_release released;
            std::lock_guard<std::mutex> lock(r.mutex);
            return r.decode_rgb(v);
          },
          py::arg("numbers"), "RGB24 frames (N, H, W, 3) uint8 at stored size; numbers sorted and unique.")
      .def(
          "decode_cuda",
          [](Reader& r, const at::Tensor& numbers, int x, int y, int w, int h, int out_h, int out_w) {
            auto v = checked_numbers(numbers);
            TORCH_CHECK(w >= 0 && h >= 0 && out_h >= 0 && out_w >= 0, "crop and size must be non-negative");
            py::gil_scoped_release released;
            std::lock_guard<std::mutex> lock(r.mutex);
            if (!r.gpu) throw VideoFailure("this reader decodes on the CPU (opened with cuda_device < 0)");
            return r.gpu->decode_cuda(v, CropResize{x, y, w, h, out_h, out_w});
          },
          py::arg("numbers"), py::arg("x"), py::arg("y"), py::arg("w"), py::arg("h"), py::arg("out_h"),
          py::arg("out_w"), "(N, out_h, out_w, 3) uint8 CUDA tensor: crop (stored pixels) and resize on the GPU.")
      .def_property_readonly("on_gpu", [](Reader& r) { return r.gpu && r.gpu->on_gpu(); })
      .def_property_readonly("gpu_status", [](Reader& r) { return r.gpu ? r.gpu->gpu_status() : std::string("cpu"); })
      .def_property_readonly("decoded_frames", [](Reader& r) { return r.decoded_frames(); })
      .def_property_readonly("seeks", [](Reader& r) { return r.seeks(); })
      .def_property_readonly("decoders", [](Reader& r) { return r.cpu ? r.cpu->decoders() : int64_t{1}; });
}

}  // namespace

SURGVLP_REGISTER_SUBMODULE(sampler, init)
