"""`surgvlp-fast narrations transcribe`: audio read with FFmpeg (PyAV), real speech recognised by
pocketsphinx, and the Whisper path (transformers) on a tiny random model built here.

Needs espeak-ng (Debian), pocketsphinx and faster-whisper (PyPI): without them these tests fail, they do
not skip."""
import os

import numpy as np
import pytest

from narration_audio import silent_lecture, spoken_lecture, tiny_whisper
from surgvlp_fast import cli
from surgvlp_fast.prep.narrations.transcribe import (EngineError, PocketSphinxEngine, WhisperEngine, make_engine,
                                                      transcribe_folder)
from surgvlp_fast.pretrain.text_sources import read_timed_csv
from surgvlp_fast.video.audio import read_audio
from surgvlp_fast.video.errors import VideoError

SCRIPT = [(1.0, "now we open the skin of the patient"),
          (6.0, "the doctor cuts the blood vessel"),
          (11.0, "we close the wound at the end")]
TIME_TOLERANCE_S = 0.5   # sentence start / end against the spoken audio (measured: within 0.17 s)
MIN_WORD_SHARE = 0.25    # script words found in the transcript (measured: 0.52 with espeak-ng's en-us+f2 voice)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spoken") / "videos"
    folder.mkdir()
    truth = {"lec01": spoken_lecture(folder / "lec01.mp4", SCRIPT),
             "lec02": spoken_lecture(folder / "lec02.mp4", SCRIPT[1:2])}
    (folder / "notes.txt").write_text("not a video")
    return folder, truth


def test_read_audio_16k_mono(tmp_path, videos):
    silent_lecture(tmp_path / "tone.mp4", 2.0, tone_hz=440)
    samples = read_audio(tmp_path / "tone.mp4")
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / 16000 - 2.0) < 0.05
    spectrum = np.abs(np.fft.rfft(samples[4000:20000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) <= 2  # 16000 samples -> 1 Hz bins
    assert abs(len(read_audio(tmp_path / "tone.mp4", 8000)) / 8000 - 2.0) < 0.05
    with pytest.raises(VideoError, match="has no audio stream"):
        read_audio(videos["h264_short_gop"])
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="broken.mp4"):
        read_audio(tmp_path / "broken.mp4")


def test_pocketsphinx_sentences_from_spoken_video(spoken, tmp_path, capsys):
    videos, truth = spoken
    out = tmp_path / "aws_narration_texts"
    assert cli.main(["narrations", "transcribe", str(videos), str(out), "--engine", "pocketsphinx"]) == 0
    assert "2 transcribed, 0 already there" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["lec01.csv", "lec02.csv"]
    for video_id, sentences in truth.items():
        table = read_timed_csv(str(out / f"{video_id}.csv"))
        assert len(table) == len(sentences), table.text
        script_words = hits = 0
        for (start, end, sentence), s, e, text in zip(sentences, table.start, table.end, table.text):
            assert abs(s - start) <= TIME_TOLERANCE_S and abs(e - end) <= TIME_TOLERANCE_S, (s, e, start, end)
            words = sentence.split()
            script_words += len(words)
            hits += sum(w in text.split() for w in words)
        assert hits / script_words >= MIN_WORD_SHARE, table.text

    # resumable: written CSVs are skipped, a missing one is transcribed again
    kept = (out / "lec01.csv").stat().st_mtime_ns
    os.remove(out / "lec02.csv")
    assert cli.main(["narrations", "transcribe", str(videos), str(out), "--engine", "pocketsphinx", "--no-progress"]) == 0
    assert "1 transcribed, 1 already there" in capsys.readouterr().out
    assert (out / "lec01.csv").stat().st_mtime_ns == kept and (out / "lec02.csv").exists()


def test_pocketsphinx_silence_gives_no_rows(tmp_path):
    silent_lecture(tmp_path / "quiet.mp4", 2.0)
    assert PocketSphinxEngine().transcribe(read_audio(tmp_path / "quiet.mp4")) == []


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    return tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny")


def test_whisper_timestamp_tokens_to_rows(whisper_dir):
    engine = WhisperEngine(whisper_dir, max_new_tokens=8)
    tok = engine.processor.tokenizer
    ts = lambda t: engine.timestamp_begin + round(t / 0.02)  # noqa: E731
    words = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    sot, eot = tok.convert_tokens_to_ids("<|startoftranscript|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    ids = [sot, ts(0.0), *words("we clip"), ts(2.5), ts(2.5), *words("the duct"), ts(7.0), ts(8.0), *words("open"), eot]
    rows = engine.segments(ids, 60.0, 30.0)
    assert [(round(r.start, 2), round(r.end, 2), r.text) for r in rows] == [
        (60.0, 62.5, "we clip"), (62.5, 67.0, "the duct"), (68.0, 90.0, "open")]  # no closing stamp: window end
    # no stamps at all: one row over the window; a stamp that goes back ends the window
    assert [(r.start, r.end, r.text) for r in engine.segments([sot, *words("hello"), eot], 0.0, 12.0)] == [(0.0, 12.0, "hello")]
    ids = [sot, ts(1.0), *words("a"), ts(2.0), ts(0.5), *words("loop"), ts(1.0)]
    assert [(r.start, r.end, r.text) for r in engine.segments(ids, 0.0, 30.0)] == [(1.0, 2.0, "a")]


def test_whisper_batched_windows(whisper_dir, tmp_path, capsys):
    """61 s of audio = three 30 s windows: rows lie inside their window, batching changes nothing, and
    the CLI writes a CSV the reader accepts."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(61 * 16000)).astype(np.float32)
    one = WhisperEngine(whisper_dir, batch_size=1, max_new_tokens=12).transcribe(audio)
    three = WhisperEngine(whisper_dir, batch_size=3, max_new_tokens=12).transcribe(audio)
    assert [(r.start, r.end, r.text) for r in one] == [(r.start, r.end, r.text) for r in three]
    assert {min(int(r.start // 30), 2) for r in one} == {0, 1, 2}
    for r in one:
        w = min(int(r.start // 30), 2)
        assert 30 * w <= r.start <= r.end <= min(30 * (w + 1), 61.0)
    videos = tmp_path / "videos"
    videos.mkdir()
    silent_lecture(videos / "lec.mp4", 31.0, tone_hz=300)
    out = tmp_path / "whisper_narration_texts"
    argv = ["narrations", "transcribe", str(videos), str(out), "--engine", "whisper", "--model", whisper_dir,
            "--batch-size", "2", "--max-new-tokens", "12", "--device", "cpu", "--no-progress"]
    assert cli.main(argv) == 0
    table = read_timed_csv(str(out / "lec.csv"))
    assert len(table) >= 1 and (table.start <= table.end).all() and table.end.max() <= 31.0 + 0.05
    assert all(t == t.lower() and t.strip() for t in table.text)


def test_faster_whisper_on_the_tiny_model_converted(whisper_dir, tmp_path):
    """The same tiny Whisper converted to CTranslate2 (ctranslate2's converter), through the CLI."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    ctranslate2.set_random_seed(0)   # the noise model's answers go through temperature fallback (sampling)
    ct2 = str(tmp_path / "ct2")
    TransformersConverter(whisper_dir, copy_files=["tokenizer.json"]).convert(ct2)
    videos = tmp_path / "videos"
    videos.mkdir()
    silent_lecture(videos / "lec.mp4", 40.0, tone_hz=300)
    out = tmp_path / "whisper_narration_texts"
    assert cli.main(["narrations", "transcribe", str(videos), str(out), "--engine", "faster-whisper", "--model", ct2,
                     "--device", "cpu", "--language", "en", "--no-progress"]) == 0
    table = read_timed_csv(str(out / "lec.csv"))
    assert len(table) >= 1 and (table.start <= table.end).all() and (table.end <= 40.0 + 0.05).all()
    assert all(t == t.lower() and t.strip() for t in table.text)


def test_engine_option_errors(tmp_path, capsys):
    with pytest.raises(EngineError, match="--model, --batch-size apply to the whisper engines"):
        make_engine("pocketsphinx", model="x", batch_size=2)
    with pytest.raises(EngineError, match="needs --model FOLDER"):
        make_engine("whisper")
    with pytest.raises(EngineError, match="does not exist"):
        make_engine("whisper", model=str(tmp_path / "nothing"))
    with pytest.raises(EngineError, match="does not exist"):
        make_engine("faster-whisper", model=str(tmp_path / "nothing"))
    with pytest.raises(EngineError, match="--batch-size and --max-new-tokens apply to the whisper engine"):
        make_engine("faster-whisper", model=str(tmp_path), batch_size=2)
    (tmp_path / "videos").mkdir()
    assert cli.main(["narrations", "transcribe", str(tmp_path / "videos"), str(tmp_path / "out"),
                     "--engine", "pocketsphinx", "--model", "m"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("surgvlp-fast narrations: --model apply to the whisper engines")
    assert cli.main(["narrations", "transcribe", str(tmp_path / "missing"), str(tmp_path / "out"), "--engine", "pocketsphinx"]) == 1
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["narrations", "transcribe", str(tmp_path), str(tmp_path / "out"), "--engine", "kaldi"])


def test_transcribe_folder_reports_a_broken_video(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(VideoError, match="bad.mp4"):
        transcribe_folder(str(tmp_path / "videos"), str(tmp_path / "out"), PocketSphinxEngine(), progress=False)
    assert not (tmp_path / "out" / "bad.csv").exists()
