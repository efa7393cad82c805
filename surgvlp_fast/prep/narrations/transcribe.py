"""Local speech recognition of lecture videos into narration sentences (nothing is downloaded).

Audio comes from `surgvlp_fast.video.audio.read_audio` (FFmpeg through PyAV, 16 kHz mono). Engines:

- `pocketsphinx`: CMU PocketSphinx with the US English model its PyPI package ships. Its
  voice-activity segmenter cuts the audio at pauses; each speech segment is decoded and becomes a
  row whose times are those of its first and last recognised word.
- `whisper`: a Whisper model through `transformers`, from a local folder (model + processor, as
  `save_pretrained` writes them). The audio is cut into 30 s windows (Whisper's input), decoded
  `batch_size` windows at a time with timestamp tokens; each timestamped segment is a row (a window
  without timestamps gives one row spanning its speech).
- `faster-whisper`: a CTranslate2 Whisper model folder through the `faster-whisper` package, where
  it is installed; one row per segment.

`transcribe_folder` takes one video at a time with a progress bar and skips videos whose CSV is
already written (CSVs are written whole, through a temporary file that the next run replaces), so a
stopped run resumes; `shard=(I, N)` takes the videos of one of N parts (prep/shards.py).
"""
import io
import os

import numpy as np

from ...config import ConfigError
from ..shards import shard_of
from .formats import Sentence, write_narration_csv

ENGINES = ("pocketsphinx", "whisper", "faster-whisper")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wav", ".mp3", ".m4a", ".flac")
SAMPLE_RATE = 16000
WHISPER_WINDOW_S = 30.0


class EngineError(ConfigError):
    """An engine that cannot be set up as asked (package not installed, model folder missing, an
    option the engine does not take): a user error, reported as one line by the command."""


class PocketSphinxEngine:
    name = "pocketsphinx"
    frame_rate = 100  # pocketsphinx's frames per second

    def __init__(self):
        try:
            from pocketsphinx import Decoder, Segmenter
        except ImportError:
            raise EngineError("the pocketsphinx engine needs the 'pocketsphinx' package (pip install pocketsphinx)") from None
        self._decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        self._segmenter_cls = Segmenter

    def transcribe(self, samples: np.ndarray) -> list[Sentence]:
        # one second of silence at the end closes a speech segment still open when the audio stops
        padded = np.concatenate([np.clip(samples, -1, 1), np.zeros(SAMPLE_RATE, np.float32)])
        pcm = io.BytesIO((padded * 32767).astype("<i2").tobytes())
        sentences = []
        for speech in self._segmenter_cls(sample_rate=SAMPLE_RATE).segment(pcm):
            self._decoder.start_utt()
            self._decoder.process_raw(speech.pcm, full_utt=True)
            self._decoder.end_utt()
            words = [(s.start_frame, s.end_frame, s.word) for s in self._decoder.seg() if _is_word(s.word)]
            if words:
                start = speech.start_time + words[0][0] / self.frame_rate
                end = speech.start_time + (words[-1][1] + 1) / self.frame_rate
                sentences.append(Sentence(start, end, " ".join(_base_word(w) for _, _, w in words)))
        return sentences


def _is_word(token: str) -> bool:
    return not (token.startswith(("<", "[", "+")) or token in ("", "<sil>"))


def _base_word(token: str) -> str:
    """'read(2)' -> 'read' (pocketsphinx marks alternative pronunciations)."""
    return token.split("(", 1)[0]


class WhisperEngine:
    """Whisper through transformers, batched over 30 s windows."""

    name = "whisper"

    def __init__(self, model_dir: str, batch_size: int = 8, device: str | None = None, language: str | None = None,
                 max_new_tokens: int = 440):
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        if not os.path.isdir(model_dir):
            raise EngineError(f"{model_dir}: the Whisper model folder does not exist")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = WhisperProcessor.from_pretrained(model_dir, local_files_only=True)
        dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        self.model = WhisperForConditionalGeneration.from_pretrained(model_dir, local_files_only=True,
                                                                     dtype=dtype).to(self.device).eval()
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        # English-only models (*.en) take no task or language; multilingual ones transcribe (not translate)
        self.multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))
        if language and not self.multilingual:
            raise EngineError(f"{model_dir} is an English-only Whisper model: --language does not apply")
        self.generate_options = {"task": "transcribe", **({"language": language} if language else {})} \
            if self.multilingual else {}
        tokenizer = self.processor.tokenizer
        self.timestamp_begin = tokenizer.convert_tokens_to_ids("<|0.00|>")
        if self.timestamp_begin in (None, tokenizer.unk_token_id):
            raise EngineError(f"{model_dir}: the tokenizer has no timestamp tokens (<|0.00|> ...); "
                              "save it again with a recent transformers")
        self.special_ids = set(tokenizer.all_special_ids)
        self.time_precision = WHISPER_WINDOW_S / (self.model.config.max_source_positions)

    def transcribe(self, samples: np.ndarray) -> list[Sentence]:
        import torch

        window = int(WHISPER_WINDOW_S * SAMPLE_RATE)
        starts = list(range(0, max(len(samples), 1), window))
        sentences = []
        for b in range(0, len(starts), self.batch_size):
            batch_starts = starts[b:b + self.batch_size]
            audio = [samples[s:s + window] for s in batch_starts]
            inputs = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt",
                                                      return_attention_mask=True)
            with torch.inference_mode():
                tokens = self.model.generate(inputs.input_features.to(self.device, self.model.dtype),
                                             attention_mask=inputs.attention_mask.to(self.device),
                                             return_timestamps=True, max_new_tokens=self.max_new_tokens,
                                             **self.generate_options)
            for offset, chunk, ids in zip(batch_starts, audio, tokens.tolist()):
                sentences += self.segments(ids, offset / SAMPLE_RATE, len(chunk) / SAMPLE_RATE)
        return sentences

    def segments(self, ids: list[int], offset_s: float, window_s: float) -> list[Sentence]:
        """Rows of one window's tokens: text between a start and an end timestamp token; text with no
        closing stamp ends at the window's end; a window without stamps is one row. A stamp earlier
        than the last one ends the window (decoding that starts over is a repetition loop)."""
        decode = self.processor.tokenizer.decode
        rows, text_ids, start, last = [], [], None, 0.0
        for token in ids:
            if token >= self.timestamp_begin:
                t = min((token - self.timestamp_begin) * self.time_precision, window_s)
                if t < last:
                    text_ids = []
                    break
                last = t
                if text_ids:
                    rows.append((0.0 if start is None else start, t, text_ids))
                    text_ids, start = [], None
                else:
                    start = t
            elif token not in self.special_ids:
                text_ids.append(token)
        if text_ids:
            rows.append((0.0 if start is None else start, window_s, text_ids))
        out = []
        for s, e, text in rows:
            words = decode(text, skip_special_tokens=True).strip()
            if words:
                out.append(Sentence(offset_s + s, offset_s + max(s, e), words))
        return out


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model_dir: str, device: str | None = None, language: str | None = None):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise EngineError("the faster-whisper engine needs the 'faster-whisper' package (pip install faster-whisper)") from None
        if not os.path.isdir(model_dir):
            raise EngineError(f"{model_dir}: the faster-whisper model folder does not exist")
        self.model = WhisperModel(model_dir, device=device or "auto", local_files_only=True)
        self.language = language

    def transcribe(self, samples: np.ndarray) -> list[Sentence]:
        """Its segments, cut to the audio (the last window is padded, and stamps can land in the padding)."""
        duration = len(samples) / SAMPLE_RATE
        segments, _ = self.model.transcribe(samples, language=self.language)
        return [Sentence(s.start, min(max(s.start, s.end), duration), s.text.strip())
                for s in segments if s.text.strip() and s.start < duration]


def make_engine(engine: str, model: str | None = None, batch_size: int | None = None, device: str | None = None,
                language: str | None = None, max_new_tokens: int | None = None):
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "pocketsphinx":
        given = [name for name, value in (("--model", model), ("--batch-size", batch_size), ("--device", device),
                                          ("--language", language), ("--max-new-tokens", max_new_tokens))
                 if value is not None]
        if given:
            raise EngineError(f"{', '.join(given)} apply to the whisper engines, not pocketsphinx (US English, CPU)")
        return PocketSphinxEngine()
    if model is None:
        raise EngineError(f"the {engine} engine needs --model FOLDER (a local model folder; nothing is downloaded)")
    if engine == "whisper":
        return WhisperEngine(model, batch_size=batch_size or 8, device=device, language=language,
                             max_new_tokens=max_new_tokens or 440)
    if batch_size is not None or max_new_tokens is not None:
        raise EngineError("--batch-size and --max-new-tokens apply to the whisper engine, not faster-whisper")
    return FasterWhisperEngine(model, device=device, language=language)


def list_videos(video_dir: str) -> list[str]:
    if not os.path.isdir(video_dir):
        raise NotADirectoryError(f"{video_dir}: not a folder")
    return sorted(n for n in os.listdir(video_dir)
                  if not n.startswith(".") and n.lower().endswith(VIDEO_EXTENSIONS)
                  and os.path.isfile(os.path.join(video_dir, n)))


def transcribe_folder(video_dir: str, out_dir: str, engine, progress: bool = True, shard=(0, 1)) -> dict:
    """Transcribe every video of `video_dir` (of the part `shard` = (I, N)) into `out_dir/{video_id}.csv`,
    skipping those written.

    Returns {"written": [ids], "skipped": [ids]}."""
    from tqdm import tqdm

    from ...pretrain.text_sources import video_id_of
    from ...video.audio import read_audio

    videos = [n for n in list_videos(video_dir) if shard_of(video_id_of(n), shard[1]) == shard[0]]
    os.makedirs(out_dir, exist_ok=True)
    done = {"written": [], "skipped": []}
    bar = tqdm(videos, desc=f"transcribing ({engine.name})", unit="video", disable=not progress)
    for name in bar:
        video_id = video_id_of(name)
        target = os.path.join(out_dir, f"{video_id}.csv")
        if os.path.exists(target):
            done["skipped"].append(video_id)
            continue
        bar.set_postfix_str(name)
        samples = read_audio(os.path.join(video_dir, name), SAMPLE_RATE)
        write_narration_csv(target, engine.transcribe(samples))
        done["written"].append(video_id)
    return done
