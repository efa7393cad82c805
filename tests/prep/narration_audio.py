"""Test material for the transcription tests: lectures with spoken narration, and a tiny Whisper.

`spoken_lecture` speaks each sentence of a script with espeak-ng (Debian package `espeak-ng`) and
muxes the speech, each sentence starting at its scripted time, as AAC audio into an H.264 video with
the ffmpeg CLI. `cut_world` copies a synthetic world keeping a few lectures. `tiny_whisper` builds a randomly initialised WhisperForConditionalGeneration from a
config and a byte-level tokenizer + feature extractor, all locally (its words are noise).
"""
import json
import os
import shutil
import subprocess
import wave

import numpy as np

VOICE, WORDS_PER_MINUTE = "en-us+f2", 130


def speech_span(wav_path: str, threshold: float = 0.02) -> tuple[float, float]:
    """First and last time the espeak-ng speech is louder than `threshold` (it pads with silence)."""
    with wave.open(wav_path) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(x) > threshold)
    return loud[0] / rate, (loud[-1] + 1) / rate


def spoken_lecture(path, script, tail_s: float = 1.5, video=None) -> list[tuple[float, float, str]]:
    """Write a video at `path` whose audio speaks `script` [(start_s, sentence)]; returns the truth
    [(speech start, speech end, sentence)] in video time. `video`: an existing lecture whose picture
    is kept (copied, not re-encoded); otherwise a gray H.264 picture as long as the speech."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is needed (Debian package espeak-ng)"
    work = f"{path}.parts"
    os.makedirs(work, exist_ok=True)
    inputs, filters, truth, end = [], [], [], 0.0
    for k, (start, sentence) in enumerate(script):
        wav = os.path.join(work, f"{k}.wav")
        subprocess.run([espeak, "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", wav, sentence], check=True)
        first, last = speech_span(wav)
        truth.append((start + first, start + last, sentence))
        with wave.open(wav) as w:
            end = max(end, start + w.getnframes() / w.getframerate())
        inputs += ["-i", wav]
        ms = int(round(start * 1000))
        filters.append(f"[{k + 1}:a]adelay={ms}|{ms}[a{k}]")
    duration = end + tail_s
    mix = "".join(f"[a{k}]" for k in range(len(script))) + f"amix=inputs={len(script)}:normalize=0[a]"
    picture = (["-i", str(video)], ["-c:v", "copy"]) if video else (
        ["-f", "lavfi", "-i", f"color=c=gray:size=64x64:rate=10:duration={duration:.3f}"],
        ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-t", f"{duration:.3f}"])
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", *picture[0], *inputs,
                    "-filter_complex", ";".join(filters) + ";" + mix, "-map", "0:v", "-map", "[a]",
                    *picture[1], "-c:a", "aac", str(path)], check=True)
    shutil.rmtree(work)
    return truth


def silent_lecture(path, duration_s: float, tone_hz: float | None = None):
    """An H.264 video with an audio track of `duration_s` (silence, or a sine tone)."""
    audio = f"sine=frequency={tone_hz}:sample_rate=44100" if tone_hz else "anullsrc=r=44100:cl=stereo"
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", f"color=size=64x64:rate=10:duration={duration_s}",
                    "-f", "lavfi", "-i", audio, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-t", str(duration_s), str(path)], check=True)


def _bytes_to_unicode() -> dict:
    """GPT-2's byte -> printable character table (byte-level BPE vocabularies use it)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_whisper(out_dir) -> str:
    """A randomly initialised multilingual-style Whisper (d_model 32, one layer each side) saved with its
    processor in `out_dir`. Generation may only emit lower-case letters, space and timestamps, so the
    noise it writes survives the CSV's normalisation."""
    import torch
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration,
                              WhisperProcessor, WhisperTokenizer)

    out_dir = str(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    table = _bytes_to_unicode()
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump({c: i for i, c in enumerate(table.values())}, f)
    with open(os.path.join(out_dir, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    eot = "<|endoftext|>"
    tokenizer = WhisperTokenizer(os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt"),
                                 unk_token=eot, bos_token=eot, eos_token=eot, pad_token=eot)
    specials = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|translate|>", "<|startoflm|>",
                "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in [eot, *specials]}
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                           max_source_positions=1500, max_target_positions=448, pad_token_id=ids[eot],
                           bos_token_id=ids[eot], eos_token_id=ids[eot], decoder_start_token_id=ids["<|startoftranscript|>"])
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    byte_ids = {b: i for i, b in enumerate(table)}  # vocabulary index i holds byte table-key i
    allowed = {byte_ids[b] for b in b"abcdefghijklmnopqrstuvwxyz "}
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids[eot], pad_token_id=ids[eot],
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=True, max_initial_timestamp_index=50,
        lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        begin_suppress_tokens=[], suppress_tokens=[i for i in range(256) if i not in allowed])
    model.save_pretrained(out_dir)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tokenizer).save_pretrained(out_dir)
    return out_dir


def cut_world(src, dst, keep) -> str:
    """Copy the data folder `src` to `dst` with only the lectures `keep` (ids), splits cut to match."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.npz", "downstream_datasets"))
    for folder in os.listdir(dst):
        if folder == "splits" or not os.path.isdir(os.path.join(dst, folder)):
            continue
        for name in os.listdir(os.path.join(dst, folder)):
            if name.endswith((".csv", ".mp4")) and name.split(".")[0] not in keep:
                os.remove(os.path.join(dst, folder, name))
    for name in os.listdir(os.path.join(dst, "splits")):
        path = os.path.join(dst, "splits", name)
        with open(path) as f:
            lines = f.read().splitlines()
        with open(path, "w") as f:
            f.write("\n".join([lines[0], *[x for x in lines[1:] if x.split(".")[0] in keep]]) + "\n")
    return str(dst)
