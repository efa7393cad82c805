import numpy as np
import pytest

from surgvlp_fast.errors import DataFormatError
from surgvlp_fast.pretrain.text_sources import LectureTexts, overlapping_rows, read_split, read_timed_csv, video_id_of


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_reads_narration_and_keystep_tables(tmp_path):
    t = read_timed_csv(_write(tmp_path, "a.csv", "start,end,text\n0.5,2.25,the hook\n3,4,\"a, b\"\n"))
    assert t.start.tolist() == [0.5, 3.0] and t.end.tolist() == [2.25, 4.0] and t.text == ("the hook", "a, b")
    assert t.alternative is None and len(t) == 2
    k = read_timed_csv(_write(tmp_path, "k.csv", "start,end,step,text\n0,10.5,Title,Long text\n"), "keystep")
    assert k.alternative == ("Title",) and k.text == ("Long text",)


@pytest.mark.parametrize("content,row,words", [
    ("start,text\n0,a\n", 1, "missing column"),
    ("start,end,text\n0,1,a\nx,2,b\n", 3, "not a number"),
    ("start,end,text\n0,1,a\n-1,2,b\n", 3, ">= 0"),
    ("start,end,text\nnan,1,a\n", 2, "finite"),
    ("start,end,text\n5,1,a\n", 2, "after end"),
    ("start,end,text\n0,1,   \n", 2, "empty text"),
    ("start,end,step,text\n0,1,a,b\n", 1, "unexpected column 'step'"),
])
def test_bad_rows_name_file_and_row(tmp_path, content, row, words):
    path = _write(tmp_path, "bad.csv", content)
    with pytest.raises(DataFormatError) as err:
        read_timed_csv(path)
    assert err.value.row == row and err.value.path == path
    assert words in str(err.value) and f"bad.csv, row {row}" in str(err.value)


def test_missing_file_and_empty_step(tmp_path):
    with pytest.raises(DataFormatError, match="file not found"):
        read_timed_csv(str(tmp_path / "nope.csv"))
    with pytest.raises(DataFormatError, match="row 2: empty step"):
        read_timed_csv(_write(tmp_path, "k.csv", "start,end,step,text\n0,1,,b\n"), "keystep")


def test_split_checks_videos(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"")
    path = _write(tmp_path, "s.csv", "video_path\na.mp4\nb.mp4\n")
    assert read_split(path) == ["a.mp4", "b.mp4"]
    with pytest.raises(DataFormatError, match=r"s.csv, row 3: video 'b.mp4' not found"):
        read_split(path, str(tmp_path / "videos"))
    with pytest.raises(DataFormatError, match="missing column 'video_path'"):
        read_split(_write(tmp_path, "t.csv", "path\na.mp4\n"))
    assert video_id_of("dir/vd01en1354e.mp4") == "vd01en1354e"


def test_overlap_queries_fixed_and_reference():
    from surgvlp_fast.pretrain.text_sources import TextTable

    t = TextTable("x", np.array([0.0, 2.0, 5.0, 9.0]), np.array([3.0, 4.0, 8.0, 10.0]), ("a", "b", "c", "d"))
    assert overlapping_rows(t, 2.5, 6.0).tolist() == [0, 1, 2]
    # the reference's three masks: contains start, inside, contains end -> row 2 appears via "contains end" only
    assert overlapping_rows(t, 2.5, 6.0, reference=True).tolist() == [0, 1, 2]
    assert overlapping_rows(t, 2.0, 4.0, reference=True).tolist() == [0, 1, 1, 1]
    assert overlapping_rows(t, 2.0, 4.0).tolist() == [0, 1]


def test_lecture_texts_load_a_world(tiny_world):
    root, info = tiny_world
    ids = [lec["video_id"] for lec in info["lectures"]]
    texts = LectureTexts(str(root), ids, sources=("aws", "whisper", "keystep", "abstract"))
    for vid, lec in zip(ids, info["lectures"]):
        ks = texts["keystep"][vid]
        assert ks.alternative is not None and len(ks) == 7 and ks.end[-1] == lec["duration"]
        assert len(texts["abstract"][vid]) == 1
        aws, wh = texts["aws"][vid], texts["whisper"][vid]
        assert len(wh) > len(aws) > 0
        assert (aws.start[1:] > aws.end[:-1]).all()  # sparse: gaps between AWS rows
