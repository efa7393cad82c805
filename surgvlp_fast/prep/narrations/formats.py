"""ASR outputs people have, read into narration sentences, and the seed's narration CSV writer.

Readers (each returns `Sentence`s in temporal order; a malformed file raises DataFormatError
naming the file and the offending entry):

- `read_aws(path)`: AWS Transcribe / Transcribe Medical JSON. `results.items` are words
  (`type: pronunciation`, `start_time`/`end_time` as strings, `alternatives[0].content`) and
  punctuation marks (`type: punctuation`, no times). Words are grouped into sentences: a sentence
  ends at `.`, `?` or `!`, at a pause longer than `pause_s`, or once it is `max_sentence_s` long
  (transcripts without punctuation still become sentences).
- `read_whisper(path)`: openai-whisper JSON (`{"text", "segments": [{"start", "end", "text",
  "words"?}], "language"}`), faster-whisper segments dumped as JSON (a list of segments, or a dict
  with `segments`), whisperX (`segments` + `word_segments`). One row per segment with text.
- `read_srt(path)`, `read_vtt(path)`: SubRip and WebVTT cues (hours optional in VTT, any number of
  hour digits, `,` or `.` before the milliseconds; tags such as `<i>`, `<v Speaker>`, `{\\an8}`
  and inline `<00:00:01.000>` stamps removed; NOTE / STYLE / REGION blocks skipped). One row per cue.

A UTF-8 byte-order mark and CRLF line ends are accepted everywhere. Entries with no words are
dropped. `merge_sentences` joins consecutive rows until one ends a sentence (for caption cues
that cut sentences in two).
"""
import csv
import json
import math
import os
import re
from dataclasses import dataclass

from ...errors import DataFormatError

FORMATS = ("aws", "whisper", "srt", "vtt")
EXTENSIONS = {"aws": (".json",), "whisper": (".json",), "srt": (".srt",), "vtt": (".vtt",)}
SENTENCE_END = (".", "?", "!")


@dataclass(frozen=True)
class Sentence:
    start: float
    end: float
    text: str


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None


def _read_json(path: str):
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"not valid JSON ({err.msg})", err.lineno) from None


def _seconds(path: str, entry: str, value, field: str) -> float:
    """A time given as a number or a numeric string (AWS writes strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DataFormatError(path, f"{entry}: {field} is missing or not a number ({value!r})")
    try:
        t = float(value)
    except ValueError:
        raise DataFormatError(path, f"{entry}: {field} is not a number ({value!r})") from None
    if not math.isfinite(t) or t < 0:
        raise DataFormatError(path, f"{entry}: {field} must be a finite time >= 0, got {value!r}")
    return t


def _interval(path: str, entry: str, start, end) -> tuple[float, float]:
    s, e = _seconds(path, entry, start, "start"), _seconds(path, entry, end, "end")
    if e < s:
        raise DataFormatError(path, f"{entry}: end {e} is before start {s}")
    return s, e


def _ordered(sentences: list[Sentence]) -> list[Sentence]:
    return sorted(sentences, key=lambda s: (s.start, s.end))


# --- AWS Transcribe -------------------------------------------------------------------------------------

def read_aws(path: str, pause_s: float = 1.5, max_sentence_s: float = 30.0) -> list[Sentence]:
    doc = _read_json(path)
    items = doc.get("results", {}).get("items") if isinstance(doc, dict) and isinstance(doc.get("results"), dict) else None
    if not isinstance(items, list):
        raise DataFormatError(path, "no results.items list (not an AWS Transcribe JSON)")
    sentences, words, start, end = [], [], 0.0, 0.0

    def close():
        if words:
            sentences.append(Sentence(start, end, _join_tokens(words)))
            words.clear()

    for i, item in enumerate(items):
        entry = f"results.items[{i}]"
        if not isinstance(item, dict):
            raise DataFormatError(path, f"{entry}: not an object")
        alternatives = item.get("alternatives")
        if not isinstance(alternatives, list) or not alternatives or not isinstance(alternatives[0], dict) \
                or not isinstance(alternatives[0].get("content"), str):
            raise DataFormatError(path, f"{entry}: no alternatives[0].content")
        content = alternatives[0]["content"].strip()
        kind = item.get("type")
        if kind == "punctuation":
            if words:
                words.append(content)
                if content in SENTENCE_END:
                    close()
            continue
        if kind != "pronunciation":
            raise DataFormatError(path, f"{entry}: type must be 'pronunciation' or 'punctuation', got {kind!r}")
        s, e = _interval(path, entry, item.get("start_time"), item.get("end_time"))
        if words and (s - end > pause_s or e - start > max_sentence_s):
            close()
        if words:
            end = max(end, e)
        else:
            start, end = s, e
        words.append(" " + content)
    close()
    return _ordered([s for s in sentences if s.text])


def _join_tokens(tokens: list[str]) -> str:
    """Words carry a leading space, punctuation does not: 'we' ' clip' ',' ' then' -> 'we clip, then'."""
    return "".join(tokens).strip()


# --- Whisper JSON --------------------------------------------------------------------------------------

def read_whisper(path: str) -> list[Sentence]:
    doc = _read_json(path)
    key = "segments"
    if isinstance(doc, list):
        segments, key = doc, ""
    elif isinstance(doc, dict) and isinstance(doc.get("segments"), list):
        segments = doc["segments"]
    else:
        raise DataFormatError(path, "no segments list (not a Whisper JSON)")
    sentences = []
    for i, seg in enumerate(segments):
        entry = f"{key}[{i}]" if key else f"[{i}]"
        if not isinstance(seg, dict):
            raise DataFormatError(path, f"{entry}: not an object")
        text = seg.get("text")
        if not isinstance(text, str):
            raise DataFormatError(path, f"{entry}: text is missing or not a string")
        s, e = _interval(path, entry, seg.get("start"), seg.get("end"))
        if text.strip():
            sentences.append(Sentence(s, e, " ".join(text.split())))
    return _ordered(sentences)


# --- SRT and WebVTT ------------------------------------------------------------------------------------

_TIMING = re.compile(r"^\s*(?P<start>[\d:]+[,.]\d+)\s*-->\s*(?P<end>[\d:]+[,.]\d+)(?:\s.*)?$")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def _cue_time(path: str, entry: str, stamp: str, vtt: bool) -> float:
    clock, _, fraction = stamp.replace(",", ".").partition(".")
    parts = clock.split(":")
    if not (2 <= len(parts) <= 3) or not all(p.isdigit() for p in parts) or (not vtt and len(parts) != 3) \
            or any(int(p) >= 60 for p in parts[-2:]) or not fraction.isdigit():
        raise DataFormatError(path, f"{entry}: malformed timestamp {stamp!r}")
    h, m, s = ([0] + [int(p) for p in parts])[-3:]
    return h * 3600 + m * 60 + s + int(fraction) / 10 ** len(fraction)


def _cues(path: str, vtt: bool) -> list[Sentence]:
    lines = _read_text(path).splitlines()
    if vtt:
        if not lines or not lines[0].startswith("WEBVTT"):
            raise DataFormatError(path, "line 1: a WebVTT file starts with 'WEBVTT'")
    blocks, block = [], []
    for number, line in enumerate(lines, 1):
        if line.strip():
            block.append((number, line))
        elif block:
            blocks.append(block)
            block = []
    if block:
        blocks.append(block)
    if vtt:  # the first block is the WEBVTT header
        blocks = [b for b in blocks[1:] if not b[0][1].startswith(("NOTE", "STYLE", "REGION"))]
    sentences = []
    for cue, block in enumerate(blocks, 1):
        timing = next((k for k, (_, line) in enumerate(block[:2]) if "-->" in line), None)
        first_line = block[0][0]
        entry = f"cue {cue} (line {first_line})"
        if timing is None:
            raise DataFormatError(path, f"{entry}: no 'start --> end' timing line")
        number, line = block[timing]
        match = _TIMING.match(line)
        if not match:
            raise DataFormatError(path, f"{entry}: malformed timing line {line.strip()!r}")
        entry = f"cue {cue} (line {number})"
        s = _cue_time(path, entry, match["start"], vtt)
        e = _cue_time(path, entry, match["end"], vtt)
        if e < s:
            raise DataFormatError(path, f"{entry}: end {e} is before start {s}")
        text = " ".join(_TAG.sub(" ", " ".join(t for _, t in block[timing + 1:])).split())
        if text:
            sentences.append(Sentence(s, e, text))
    return _ordered(sentences)


def read_srt(path: str) -> list[Sentence]:
    return _cues(path, vtt=False)


def read_vtt(path: str) -> list[Sentence]:
    return _cues(path, vtt=True)


READERS = {"aws": read_aws, "whisper": read_whisper, "srt": read_srt, "vtt": read_vtt}


# --- shaping and writing -------------------------------------------------------------------------------

def merge_sentences(rows: list[Sentence], max_sentence_s: float = 30.0) -> list[Sentence]:
    """Join consecutive rows until one ends with . ? ! (or the sentence reaches max_sentence_s)."""
    merged, pending = [], []
    for row in rows:
        if pending and row.end - pending[0].start > max_sentence_s:
            merged.append(_join(pending))
            pending = []
        pending.append(row)
        if row.text.rstrip("\"')]").endswith(SENTENCE_END):
            merged.append(_join(pending))
            pending = []
    if pending:
        merged.append(_join(pending))
    return merged


def _join(rows: list[Sentence]) -> Sentence:
    return Sentence(rows[0].start, max(r.end for r in rows), " ".join(r.text for r in rows))


_NOT_WORD = re.compile(r"[^\w'\- ]+")


def normalise(text: str) -> str:
    """The narration CSVs' text: lower case, no punctuation (apostrophes and hyphens inside words kept)."""
    words = _NOT_WORD.sub(" ", text.lower()).split()
    return " ".join(w.strip("'-") for w in words if w.strip("'-"))


def write_narration_csv(path: str, sentences: list[Sentence], raw_text: bool = False) -> int:
    """Write `start,end,text` rows (seconds with 2 decimals), as the seed's narration CSVs; returns
    the number of rows (sentences whose text normalises to nothing are dropped)."""
    rows = []
    for s in sentences:
        text = " ".join(s.text.split()) if raw_text else normalise(s.text)
        if text:
            rows.append((f"{s.start:.2f}", f"{max(s.end, s.start):.2f}", text))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("start", "end", "text"))
        writer.writerows(rows)
    os.replace(tmp, path)
    return len(rows)


def source_files(source: str, fmt: str) -> list[str]:
    """`source` itself when it is a file, else its files with the format's extensions, sorted."""
    if os.path.isfile(source):
        return [source]
    if not os.path.isdir(source):
        raise FileNotFoundError(f"{source}: no such file or folder")
    files = sorted(os.path.join(source, n) for n in os.listdir(source)
                   if n.lower().endswith(EXTENSIONS[fmt]) and not n.startswith("."))
    if not files:
        raise FileNotFoundError(f"{source}: no {'/'.join(EXTENSIONS[fmt])} files for format {fmt!r}")
    return files


def import_narrations(source: str, out_dir: str, fmt: str, raw_text: bool = False,
                      sentences: bool = False, pause_s: float = 1.5, max_sentence_s: float = 30.0) -> dict:
    """Convert ASR outputs (a file or a folder) into `out_dir/{video_id}.csv`, the id being the file
    name up to its first '.'. Every file is read and checked before anything is written; CSVs of the
    same ids already in `out_dir` are replaced (the conversion is deterministic).
    sentences: join rows (segments, cues) into sentences at . ? ! (AWS items are always grouped).
    Returns {video_id: number of rows}."""
    from ...pretrain.text_sources import video_id_of

    if fmt not in READERS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    parsed, origin = {}, {}
    for path in source_files(source, fmt):
        video_id = video_id_of(path)
        if video_id in origin:
            raise DataFormatError(path, f"video id {video_id!r} also comes from {origin[video_id]}")
        rows = read_aws(path, pause_s, max_sentence_s) if fmt == "aws" else READERS[fmt](path)
        if sentences and fmt != "aws":
            rows = merge_sentences(rows, max_sentence_s)
        parsed[video_id], origin[video_id] = rows, path
    return {video_id: write_narration_csv(os.path.join(out_dir, f"{video_id}.csv"), rows, raw_text)
            for video_id, rows in parsed.items()}
