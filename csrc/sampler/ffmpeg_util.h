// Small RAII and error helpers over the FFmpeg C API (FFmpeg 5.1: libavformat 59, libavcodec 59).
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <stdexcept>
#include <string>

namespace surgvlp::sampler {

// Every failure is a VideoFailure; the Python side turns it into VideoError naming the file.
struct VideoFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string av_error_text(int code) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buffer, sizeof(buffer));
  return buffer;
}

struct FormatCloser {
  void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct CodecCloser {
  void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};

using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecCloser>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;
using FramePtr = std::unique_ptr<AVFrame, FrameFree>;

// Open a file and read its stream headers; throws VideoFailure when it is not a media file.
FormatPtr open_input(const std::string& path);

// The video stream av_find_best_stream picks (never stream 0 blindly); throws when there is none.
int find_video_stream(AVFormatContext* fmt);

// Display-matrix rotation in degrees, counter-clockwise, in [0, 360); 0 without a matrix.
double stream_rotation(const AVStream* stream);

}  // namespace surgvlp::sampler
