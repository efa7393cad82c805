#include "scan.h"

#include "ffmpeg_util.h"

namespace surgvlp::sampler {

FormatPtr open_input(const std::string& path) {
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (ret < 0) throw VideoFailure("cannot open as a video (" + av_error_text(ret) + ")");
  FormatPtr fmt(raw);
  ret = avformat_find_stream_info(fmt.get(), nullptr);
  if (ret < 0) throw VideoFailure("cannot read the stream headers (" + av_error_text(ret) + ")");
  return fmt;
}

int find_video_stream(AVFormatContext* fmt) {
  int index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index < 0) throw VideoFailure("has no video stream");
  return index;
}

double stream_rotation(const AVStream* stream) {
  size_t size = 0;
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (matrix == nullptr || size < 9 * sizeof(int32_t)) return 0.0;
  double angle = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (angle != angle) return 0.0;  // NaN: a degenerate matrix
  angle = angle - 360.0 * static_cast<long long>(angle / 360.0);
  return angle < 0 ? angle + 360.0 : angle;
}

ScanResult scan_video(const std::string& path) {
  FormatPtr fmt = open_input(path);
  ScanResult out;
  out.stream_index = find_video_stream(fmt.get());
  const AVStream* stream = fmt->streams[out.stream_index];
  out.time_base_num = stream->time_base.num;
  out.time_base_den = stream->time_base.den;
  out.width = stream->codecpar->width;
  out.height = stream->codecpar->height;
  out.rotation = stream_rotation(stream);
  out.codec = avcodec_get_name(stream->codecpar->codec_id);
  for (unsigned i = 0; i < fmt->nb_streams; ++i)  // demux only the video stream's packets
    if (static_cast<int>(i) != out.stream_index) fmt->streams[i]->discard = AVDISCARD_ALL;

  PacketPtr packet(av_packet_alloc());
  while (true) {
    int ret = av_read_frame(fmt.get(), packet.get());
    if (ret < 0) break;  // end of file, or a truncated / corrupt tail: keep what was read
    if (packet->stream_index == out.stream_index && packet->size > 0 &&
        !(packet->flags & AV_PKT_FLAG_DISCARD)) {
      int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      if (ts != AV_NOPTS_VALUE) {
        out.pts.push_back(ts);
        out.duration.push_back(packet->duration > 0 ? packet->duration : 0);
        out.keyframe.push_back((packet->flags & AV_PKT_FLAG_KEY) ? 1 : 0);
      }
    }
    av_packet_unref(packet.get());
  }
  return out;
}

}  // namespace surgvlp::sampler
