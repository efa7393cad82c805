#include "decoder.h"

#include <algorithm>
#include <utility>

#ifdef SURGVLP_WITH_CUDA
#include "nvdec.h"
#endif

namespace surgvlp::sampler {

Decoder::Decoder(std::string path, int stream_index, std::vector<int64_t> pts, std::vector<uint8_t> keyframe,
                 int threads, int cuda_device)
    : path_(std::move(path)), stream_index_(stream_index), pts_(std::move(pts)), keyframe_(std::move(keyframe)),
      cuda_device_(cuda_device) {
  if (pts_.empty()) throw VideoFailure("the video stream has no frames");
  if (keyframe_.size() != pts_.size()) throw VideoFailure("index: pts and keyframe lengths differ");
  fmt_ = open_input(path_);
  if (stream_index_ < 0 || stream_index_ >= static_cast<int>(fmt_->nb_streams) ||
      fmt_->streams[stream_index_]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
    throw VideoFailure("stream " + std::to_string(stream_index_) + " is not a video stream");
  for (unsigned i = 0; i < fmt_->nb_streams; ++i)
    if (static_cast<int>(i) != stream_index_) fmt_->streams[i]->discard = AVDISCARD_ALL;
  const AVStream* stream = fmt_->streams[stream_index_];
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (codec == nullptr)
    throw VideoFailure(std::string("no decoder for codec ") + avcodec_get_name(stream->codecpar->codec_id));
  codec_.reset(avcodec_alloc_context3(codec));
  if (!codec_) throw VideoFailure("out of memory");
  int ret = avcodec_parameters_to_context(codec_.get(), stream->codecpar);
  if (ret < 0) throw VideoFailure("bad codec parameters (" + av_error_text(ret) + ")");
  codec_->pkt_timebase = stream->time_base;
  codec_->thread_count = std::max(1, threads);
  codec_->thread_type = threads > 1 ? (FF_THREAD_FRAME | FF_THREAD_SLICE) : FF_THREAD_SLICE;
  if (cuda_device_ >= 0) {
#ifdef SURGVLP_WITH_CUDA
    on_gpu_ = enable_nvdec(codec_.get(), cuda_device_, &gpu_status_);
#else
    gpu_status_ = "built without CUDA: decoding on the CPU";
#endif
  }
  ret = avcodec_open2(codec_.get(), codec, nullptr);
  if (ret < 0) throw VideoFailure("cannot open the decoder (" + av_error_text(ret) + ")");
  width_ = stream->codecpar->width;
  height_ = stream->codecpar->height;
  if (width_ <= 0 || height_ <= 0) throw VideoFailure("the video stream has no frame size");
  packet_.reset(av_packet_alloc());
}

Decoder::~Decoder() { sws_freeContext(sws_); }

int64_t Decoder::keyframe_before(int64_t number) const {
  for (int64_t i = number; i >= 0; --i)
    if (keyframe_[i]) return i;
  return 0;
}

int64_t Decoder::number_of(int64_t pts) const {
  auto it = std::upper_bound(pts_.begin(), pts_.end(), pts);
  return static_cast<int64_t>(it - pts_.begin()) - 1;
}

void Decoder::seek_to(int64_t number) {
  int64_t target = pts_[keyframe_before(number)];
  int ret = av_seek_frame(fmt_.get(), stream_index_, target, AVSEEK_FLAG_BACKWARD);
  if (ret < 0) ret = av_seek_frame(fmt_.get(), stream_index_, INT64_MIN, AVSEEK_FLAG_BACKWARD | AVSEEK_FLAG_ANY);
  if (ret < 0) ret = avformat_seek_file(fmt_.get(), -1, INT64_MIN, 0, 0, AVSEEK_FLAG_BYTE);
  if (ret < 0) throw VideoFailure("cannot seek (" + av_error_text(ret) + ")");
  avcodec_flush_buffers(codec_.get());
  draining_ = false;
  ++seeks_;
}

bool Decoder::next_frame(AVFrame* frame) {
  int errors = 0;
  while (true) {
    int ret = avcodec_receive_frame(codec_.get(), frame);
    if (ret == 0) return true;
    if (ret == AVERROR_EOF) return false;
    if (ret != AVERROR(EAGAIN)) {  // a corrupt frame: skip it, but never loop for ever
      if (++errors > 64) return false;
      continue;
    }
    if (draining_) return false;
    ret = av_read_frame(fmt_.get(), packet_.get());
    if (ret < 0) {  // end of file, or unreadable data: drain what the decoder holds
      draining_ = true;
      avcodec_send_packet(codec_.get(), nullptr);
      continue;
    }
    if (packet_->stream_index == stream_index_) {
      int64_t ts = packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
      bool skippable = ts != AV_NOPTS_VALUE && ts < skip_below_pts_ && !(packet_->flags & AV_PKT_FLAG_KEY);
      codec_->skip_frame = skippable ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
      avcodec_send_packet(codec_.get(), packet_.get());  // errors: a corrupt packet, dropped
    }
    av_packet_unref(packet_.get());
  }
}

void Decoder::check_numbers(const std::vector<int64_t>& numbers) const {
  for (size_t k = 0; k < numbers.size(); ++k) {
    if (numbers[k] < 0 || numbers[k] >= static_cast<int64_t>(pts_.size()))
      throw VideoFailure("frame number " + std::to_string(numbers[k]) + " is out of range");
    if (k > 0 && numbers[k] <= numbers[k - 1]) throw VideoFailure("frame numbers must be sorted and unique");
  }
}

void Decoder::run(const std::vector<int64_t>& numbers, const std::function<void(AVFrame*, int64_t)>& keep) {
  const int64_t n = static_cast<int64_t>(numbers.size());
  check_numbers(numbers);
  FramePtr frame(av_frame_alloc()), previous(av_frame_alloc());
  int64_t j = 0;
  while (j < n) {
    const int64_t seeked_key = keyframe_before(numbers[j]);
    seek_to(numbers[j]);
    bool have_previous = false, reseek = false;
    skip_below_pts_ = pts_[numbers[j]];
    while (next_frame(frame.get())) {
      ++decoded_frames_;
      int64_t p = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
      if (p == AV_NOPTS_VALUE) {
        av_frame_unref(frame.get());
        continue;
      }
      for (; j < n && p > pts_[numbers[j]]; ++j) keep(have_previous ? previous.get() : frame.get(), j);
      for (; j < n && p == pts_[numbers[j]]; ++j) keep(frame.get(), j);
      if (j == n) break;
      skip_below_pts_ = pts_[numbers[j]];
      av_frame_unref(previous.get());
      av_frame_move_ref(previous.get(), frame.get());
      have_previous = true;
      const int64_t next_key = keyframe_before(numbers[j]);
      if (next_key > seeked_key && next_key > number_of(p)) {  // a keyframe lies between: seek there
        reseek = true;
        break;
      }
    }
    av_frame_unref(frame.get());
    if (reseek) continue;
    if (j < n && !have_previous)
      throw VideoFailure("no frame decodes at or after frame " + std::to_string(numbers[j]));
    for (; j < n; ++j) keep(previous.get(), j);  // end of stream: the last frame stays on screen
  }
  skip_below_pts_ = INT64_MIN;
}

void Decoder::convert_cpu(const AVFrame* frame, uint8_t* out) {
  if (frame->width != width_ || frame->height != height_)
    throw VideoFailure("the frame size changes mid-stream (" + std::to_string(frame->width) + "x" +
                       std::to_string(frame->height) + ")");
  auto format = static_cast<AVPixelFormat>(frame->format);
  sws_ = sws_getCachedContext(sws_, width_, height_, format, width_, height_, AV_PIX_FMT_RGB24, SWS_BILINEAR,
                              nullptr, nullptr, nullptr);
  if (sws_ == nullptr) throw VideoFailure(std::string("cannot convert pixel format ") + av_get_pix_fmt_name(format));
  // as the ffmpeg CLI's scale filter: the frame's own matrix and range
  int colorspace = frame->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : frame->colorspace;
  sws_setColorspaceDetails(sws_, sws_getCoefficients(colorspace), frame->color_range == AVCOL_RANGE_JPEG,
                           sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
  // swscale's SIMD writers fill 16 pixels at a time: a width that is not a multiple of 16 would
  // write past the end of each row, and past the tensor after the last one. Such frames are
  // converted into a padded scratch buffer and copied.
  const int row_bytes = 3 * width_;
  const bool direct = width_ % 16 == 0;
  const int stride = direct ? row_bytes : (row_bytes + 48 + 63) / 64 * 64;
  if (!direct) scratch_.resize(static_cast<size_t>(stride) * (height_ + 1));
  uint8_t* planes[4] = {direct ? out : scratch_.data(), nullptr, nullptr, nullptr};
  int strides[4] = {stride, 0, 0, 0};
  int rows = sws_scale(sws_, frame->data, frame->linesize, 0, height_, planes, strides);
  if (rows != height_) throw VideoFailure("colour conversion failed");
  if (!direct)
    for (int y = 0; y < height_; ++y)
      std::copy_n(scratch_.data() + static_cast<size_t>(y) * stride, row_bytes, out + static_cast<size_t>(y) * row_bytes);
}

at::Tensor Decoder::decode_rgb(const std::vector<int64_t>& numbers) {
  auto out = at::empty({static_cast<int64_t>(numbers.size()), height_, width_, 3}, at::kByte);
  decode_rgb_into(numbers, out.data_ptr<uint8_t>());
  return out;
}

void Decoder::decode_rgb_into(const std::vector<int64_t>& numbers, uint8_t* base) {
  const int64_t frame_bytes = static_cast<int64_t>(height_) * width_ * 3;
  int64_t last_pts = AV_NOPTS_VALUE, last_slot = -1;
  run(numbers, [&](AVFrame* frame, int64_t slot) {
    if (last_slot >= 0 && frame->pts == last_pts) {  // the same frame again (a frame the decoder dropped)
      std::copy_n(base + last_slot * frame_bytes, frame_bytes, base + slot * frame_bytes);
    } else {
      convert_cpu(frame, base + slot * frame_bytes);
    }
    last_pts = frame->pts;
    last_slot = slot;
  });
}

at::Tensor Decoder::decode_cuda(const std::vector<int64_t>& numbers, const CropResize& geometry) {
#ifdef SURGVLP_WITH_CUDA
  CropResize g = geometry;
  if (g.w <= 0 || g.h <= 0) g = CropResize{0, 0, width_, height_, geometry.out_h, geometry.out_w};
  if (g.out_h <= 0 || g.out_w <= 0) g.out_h = g.h, g.out_w = g.w;
  if (g.x < 0 || g.y < 0 || g.x + g.w > width_ || g.y + g.h > height_) throw VideoFailure("crop out of the frame");
  auto options = at::TensorOptions().dtype(at::kByte).device(at::kCUDA, std::max(cuda_device_, 0));
  auto out = at::empty({static_cast<int64_t>(numbers.size()), g.out_h, g.out_w, 3}, options);
  run(numbers, [&](AVFrame* frame, int64_t slot) { convert_to_cuda(*this, frame, g, out[slot]); });
  return out;
#else
  (void)numbers;
  (void)geometry;
  throw VideoFailure("this build has no CUDA support");
#endif
}

}  // namespace surgvlp::sampler
