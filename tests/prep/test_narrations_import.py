"""`surgvlp-fast narrations import`: AWS Transcribe, Whisper JSON, SRT and WebVTT files on disk
become narration CSVs that the text-source reader and validate-data accept."""
import json
import os
import shutil

import pytest

from surgvlp_fast import cli
from surgvlp_fast.errors import DataFormatError
from surgvlp_fast.prep.narrations.formats import import_narrations, read_aws, read_srt, read_vtt, read_whisper
from surgvlp_fast.prep.validate_data import validate_data
from surgvlp_fast.pretrain.text_sources import read_timed_csv


def _item(content, start=None, end=None):
    if start is None:
        return {"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": content}]}
    return {"start_time": f"{start}", "end_time": f"{end}", "type": "pronunciation",
            "alternatives": [{"confidence": "0.99", "content": content}]}


# AWS Transcribe Medical as it writes it: times as strings, punctuation items without times.
AWS = {
    "jobName": "vd01", "accountId": "1", "status": "COMPLETED",
    "results": {
        "transcripts": [{"transcript": "The patient is placed supine. We insert the trocars, then"}],
        "items": [
            _item("The", 0.04, 0.2), _item("patient", 0.2, 0.71), _item("is", 0.71, 0.8), _item("placed", 0.8, 1.2),
            _item("supine", 1.2, 1.9), _item("."),
            _item("We", 2.5, 2.7), _item("insert", 2.7, 3.1), _item("the", 3.1, 3.2), _item("trocars", 3.2, 3.9),
            _item(","), _item("then", 4.0, 4.3),
            # no punctuation after "then": a 5 s pause ends the sentence
            _item("dissection", 9.3, 10.0), _item("of", 10.0, 10.1), _item("Calot's", 10.1, 10.6),
            _item("triangle", 10.6, 11.25),
        ],
    },
}


def test_aws_items_grouped_into_sentences(tmp_path):
    path = tmp_path / "vd01en1354e.json"
    path.write_text(json.dumps(AWS))
    rows = read_aws(str(path))
    assert [(r.start, r.end, r.text) for r in rows] == [
        (0.04, 1.9, "The patient is placed supine."),
        (2.5, 4.3, "We insert the trocars, then"),
        (9.3, 11.25, "dissection of Calot's triangle"),
    ]
    counts = import_narrations(str(path), str(tmp_path / "aws_narration_texts"), "aws")
    assert counts == {"vd01en1354e": 3}
    out = tmp_path / "aws_narration_texts" / "vd01en1354e.csv"
    assert out.read_text().splitlines() == [
        "start,end,text", "0.04,1.90,the patient is placed supine", "2.50,4.30,we insert the trocars then",
        "9.30,11.25,dissection of calot's triangle"]
    table = read_timed_csv(str(out))
    assert table.text[2] == "dissection of calot's triangle" and table.end[2] == 11.25


def test_aws_without_punctuation_closes_at_the_longest_sentence(tmp_path):
    items = [_item(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(100)]  # 50 s of talk, no pause, no '.'
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"results": {"items": items}}))
    rows = read_aws(str(path), max_sentence_s=20.0)
    assert len(rows) == 3 and all(r.end - r.start <= 20.0 for r in rows)
    assert " ".join(r.text for r in rows) == " ".join(f"w{i}" for i in range(100))


WHISPER = {  # openai-whisper's JSON (word_timestamps=True)
    "text": " So we start with the exposure. Of the gallbladder.",
    "segments": [
        {"id": 0, "seek": 0, "start": 0.0, "end": 20.0, "text": " So we start with the exposure.",
         "tokens": [50364, 407], "temperature": 0.0, "avg_logprob": -0.3, "compression_ratio": 1.2,
         "no_speech_prob": 0.01, "words": [{"word": " So", "start": 0.0, "end": 0.4, "probability": 0.9}]},
        {"id": 1, "seek": 0, "start": 23.28, "end": 20.5, "text": " ", "tokens": []},  # empty: dropped
        {"id": 2, "seek": 0, "start": 20.0, "end": 23.28, "text": " Of the gallbladder.", "tokens": []},
        {"id": 3, "seek": 2000, "start": 22.9, "end": 26.0, "text": " Overlapping, the hook!", "tokens": []},
    ],
    "language": "en",
}


def test_whisper_json_openai_and_faster_whisper(tmp_path):
    WHISPER["segments"][1]["end"] = 23.28  # a valid empty segment (see the malformed cases for end < start)
    openai = tmp_path / "vd02.json"
    openai.write_text(json.dumps(WHISPER))
    rows = read_whisper(str(openai))
    assert [(r.start, r.end, r.text) for r in rows] == [
        (0.0, 20.0, "So we start with the exposure."), (20.0, 23.28, "Of the gallbladder."),
        (22.9, 26.0, "Overlapping, the hook!")]
    # faster-whisper segments dumped as a JSON list (Segment._asdict()), words as dicts
    faster = tmp_path / "vd03.mp4.json"
    faster.write_text(json.dumps([{"id": 1, "seek": 0, "start": 1.5, "end": 3.25, "text": " Clip the artery",
                                   "tokens": [1], "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.0,
                                   "words": [{"start": 1.5, "end": 2.0, "word": " Clip", "probability": 0.9}],
                                   "temperature": 0.0}]))
    assert [(r.start, r.end, r.text) for r in read_whisper(str(faster))] == [(1.5, 3.25, "Clip the artery")]
    out = tmp_path / "whisper_narration_texts"
    assert import_narrations(str(tmp_path), str(out), "whisper") == {"vd02": 3, "vd03": 1}
    assert (out / "vd02.csv").read_text().splitlines()[1:] == [
        "0.00,20.00,so we start with the exposure", "20.00,23.28,of the gallbladder", "22.90,26.00,overlapping the hook"]
    # --sentences joins segments up to the end of a sentence
    assert import_narrations(str(openai), str(out), "whisper", sentences=True, raw_text=True) == {"vd02": 3}
    WHISPER["segments"][0]["text"] = " So we start with the exposure"
    openai.write_text(json.dumps(WHISPER))
    import_narrations(str(openai), str(out), "whisper", sentences=True, raw_text=True)
    assert (out / "vd02.csv").read_text().splitlines()[1:] == [
        "0.00,23.28,So we start with the exposure Of the gallbladder.", "22.90,26.00,\"Overlapping, the hook!\""]


SRT = ("\ufeff1\r\n00:00:01,000 --> 00:00:04,500\r\n<i>The hook</i> dissects\r\nthe peritoneum.\r\n\r\n"
       "2\r\n00:00:04,500 --> 00:00:06,000 X1:40 X2:600\r\n{\\an8}   \r\n\r\n"      # empty after tags: dropped
       "3\r\n01:02:03.250 --> 01:02:05,000\r\nan hour later\r\n\r\n"                # hours, '.' separator
       "4\r\n00:00:03,000 --> 00:00:05,000\r\noverlapping cue\r\n")


VTT = ("\ufeffWEBVTT - lecture\nKind: captions\nLanguage: en\n\n"
       "NOTE this is a note\nspanning lines\n\n"
       "STYLE\n::cue { color: red }\n\n"
       "intro\n00:01.000 --> 00:04.000 align:start position:10%\n<v Surgeon>we clip<00:00:02.000><c> the duct</c>\n\n"
       "00:04.000 --> 00:06.000\nno id here\n\n"
       "101:00:00.000 --> 101:00:01.500\nlong lecture\n")


def test_srt_and_vtt(tmp_path):
    srt = tmp_path / "vd04.srt"
    srt.write_bytes(SRT.encode())
    assert [(r.start, r.end, r.text) for r in read_srt(str(srt))] == [
        (1.0, 4.5, "The hook dissects the peritoneum."), (3.0, 5.0, "overlapping cue"),
        (3723.25, 3725.0, "an hour later")]
    vtt = tmp_path / "vd05.en.vtt"
    vtt.write_text(VTT)
    assert [(r.start, r.end, r.text) for r in read_vtt(str(vtt))] == [
        (1.0, 4.0, "we clip the duct"), (4.0, 6.0, "no id here"), (363600.0, 363601.5, "long lecture")]
    out = tmp_path / "data" / "whisper_narration_texts"
    assert import_narrations(str(srt), str(out), "srt") == {"vd04": 3}
    assert import_narrations(str(vtt), str(out), "vtt") == {"vd05": 3}
    assert read_timed_csv(str(out / "vd05.csv")).start.tolist() == [1.0, 4.0, 363600.0]


MALFORMED = [
    # (format, file name, content, words the one-line error must contain)
    ("aws", "a.json", '{"results": {"items": [{"type": "pronunciation", "start_time": "1.0", '
                      '"alternatives": [{"content": "x"}]}]}}', "results.items[0]: end is missing"),
    ("aws", "a.json", '{"results": {"items": [{"type": "pronunciation", "start_time": "2", "end_time": "1", '
                      '"alternatives": [{"content": "x"}]}]}}', "results.items[0]: end 1.0 is before start 2.0"),
    ("aws", "a.json", '{"results": {"items": [{"type": "speaker", "alternatives": [{"content": "x"}]}]}}',
     "results.items[0]: type must be"),
    ("aws", "a.json", '{"results": {"items": [{"type": "pronunciation", "start_time": "0", "end_time": "1"}]}}',
     "results.items[0]: no alternatives[0].content"),
    ("aws", "a.json", '{"segments": []}', "no results.items list"),
    ("aws", "a.json", '{"results": {"items": [', "not valid JSON"),
    ("whisper", "w.json", '{"segments": [{"start": 0, "end": 1, "text": "a"}, {"start": "x", "end": 2, "text": "b"}]}',
     "segments[1]: start is not a number ('x')"),
    ("whisper", "w.json", '{"segments": [{"start": 0, "end": 1}]}', "segments[0]: text is missing"),
    ("whisper", "w.json", '{"segments": [{"start": 3, "end": 1, "text": "a"}]}', "segments[0]: end 1.0 is before start 3.0"),
    ("whisper", "w.json", '{"text": "no segments"}', "no segments list"),
    ("srt", "s.srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 -> 00:00:04,000\nbad arrow\n",
     "cue 2 (line 5): no 'start --> end' timing line"),
    ("srt", "s.srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:75,000 --> 00:00:76,000\nbad\n",
     "cue 2 (line 6): malformed timestamp '00:00:75,000'"),
    ("srt", "s.srt", "1\n00:01,000 --> 00:02,000\nsrt needs hours\n", "cue 1 (line 2): malformed timestamp"),
    ("srt", "s.srt", "1\n00:00:05,000 --> 00:00:02,000\nback\n", "cue 1 (line 2): end 2.0 is before start 5.0"),
    ("vtt", "v.vtt", "00:01.000 --> 00:02.000\nno header\n", "line 1: a WebVTT file starts with 'WEBVTT'"),
    ("vtt", "v.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\n\xff\xfe bad bytes\n", "not UTF-8 text"),
]


@pytest.mark.parametrize("fmt,name,content,words", MALFORMED, ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)])
def test_malformed_file_is_one_error_naming_file_and_entry(tmp_path, capsys, fmt, name, content, words):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(DataFormatError) as err:
        import_narrations(str(path), str(tmp_path / "out"), fmt)
    assert err.value.path == str(path) and words in str(err.value)
    assert not (tmp_path / "out").exists()  # nothing written
    assert cli.main(["narrations", "import", str(path), str(tmp_path / "out"), "--format", fmt]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("surgvlp-fast narrations: ") and str(path) in lines[0] and words in lines[0]


def test_cli_folder_import_then_validate_data(tiny_world, tmp_path, capsys):
    """A folder of AWS JSONs and one of SRTs replace a world's narrations; validate-data accepts the result."""
    root = tmp_path / "data"
    shutil.copytree(tiny_world[0], root, ignore=shutil.ignore_patterns("*.npz"))
    ids = sorted(n[:-4] for n in os.listdir(root / "videos") if n.endswith(".mp4"))
    aws_dir, srt_dir = tmp_path / "aws_json", tmp_path / "srt"
    aws_dir.mkdir()
    srt_dir.mkdir()
    for k, video_id in enumerate(ids):
        (aws_dir / f"{video_id}.json").write_text(json.dumps(AWS))
        (srt_dir / f"{video_id}.srt").write_text(SRT.replace("01:02:03.250 --> 01:02:05,000", f"00:00:0{k}.250 --> 00:00:0{k + 1},000"))
    (aws_dir / "notes.txt").write_text("not a transcript")  # other files are not read
    for fmt, src, folder in (("aws", aws_dir, "aws_narration_texts"), ("srt", srt_dir, "whisper_narration_texts")):
        shutil.rmtree(root / folder)
        # options after the positionals and before them both work
        argv = ["narrations", "import", str(src), str(root / folder), "--format", fmt]
        assert cli.main(argv if fmt == "aws" else ["narrations", "import", "--format", fmt, str(src), str(root / folder)]) == 0
        assert sorted(os.listdir(root / folder)) == [f"{v}.csv" for v in ids]
    assert f"{len(ids)} narration CSV(s) written" in capsys.readouterr().out
    assert [p for p in validate_data(str(root), deep=True) if p.severity == "error"] == []
    assert cli.main(["validate-data", str(root)]) == 0


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.main(["narrations", "import", str(tmp_path / "missing"), str(tmp_path / "out"), "--format", "srt"]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "a.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n")
    assert cli.main(["narrations", "import", str(tmp_path), str(tmp_path / "out"), "--format", "vtt"]) == 1
    assert "no .vtt files for format 'vtt'" in capsys.readouterr().err
    (tmp_path / "a.en.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nx\n")
    assert cli.main(["narrations", "import", str(tmp_path), str(tmp_path / "out"), "--format", "srt"]) == 1
    assert "video id 'a' also comes from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["narrations", "import", str(tmp_path), str(tmp_path / "out"), "--format", "docx"])
    with pytest.raises(SystemExit):
        cli.main(["narrations", "import", str(tmp_path), str(tmp_path / "out"), "--format", "srt", "--engine", "whisper"])
