"""The interchange reader (evaluation/downstream/interchange.py): every task kind, and each hostile
input failing with one DataFormatError that names the file and row."""
import json
import os

import numpy as np
import pytest
from interchange_fixtures import read_json, write_interchange, write_json

from surgvlp_fast.errors import DataFormatError
from surgvlp_fast.evaluation.downstream.interchange import MULTI, SINGLE, read_interchange, tasks_of

CATS = {"phases": ["prep", "cut", "close"], "tools": ["grasper", "hook", "clipper", "bag"]}


def _two_videos(tmp_path):
    videos = {
        "v01": [(1, {"phases": 0, "tools": [0]}), (2, {"phases": 1, "tools": [0, 2]}), (3, {"phases": 2, "tools": []})],
        "v02": [(5, {"phases": 2, "tools": [3]}), (4, {"phases": 1}), (6, {"tools": [1]})],
    }
    return write_interchange(str(tmp_path), videos, CATS)


def test_single_label_task_in_frame_order_with_prompts(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    read = read_interchange(json_path, frame_list, "phases")
    assert read.classes.kind == SINGLE and read.classes.names == CATS["phases"]
    assert read.classes.prompts == ["prompt for prep", "prompt for cut", "prompt for close"]
    assert [v.video_id for v in read.videos] == ["v01", "v02"]
    assert read.videos[0].labels.tolist() == [0, 1, 2]
    assert read.videos[1].labels.tolist() == [1, 2]               # frames 4, 5 in frame order; 6 has no phase
    assert read.skipped == {"unlabelled frames": 1}
    assert [os.path.basename(f) for f in read.videos[1].frames.files] == ["0004.png", "0005.png"]
    assert read.videos[1].frames[0].shape == (3, 8, 8) and int(read.videos[1].frames[0][0, 0, 0]) == 4
    assert tasks_of(read_json(json_path)) == ["phases", "tools"]


def test_multi_label_task_is_multi_hot(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    read = read_interchange(json_path, frame_list, "tools")
    assert read.classes.kind == MULTI
    assert read.videos[0].labels.tolist() == [[1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert read.videos[1].labels.tolist() == [[0, 0, 0, 1], [0, 1, 0, 0]]   # frame 4 has no tools field
    assert read.skipped == {"unlabelled frames": 1}


def test_triplets_with_non_zero_based_ids(tmp_path):
    json_path, frame_list = write_interchange(str(tmp_path), {"VID06": [(0, {"triplet": [10, 12]}), (1, {"triplet": [11]})]},
                                              {})
    data = read_json(json_path)
    data["triplet_categories"] = [{"id": i, "name": f"t{i}"} for i in (12, 10, 11)]   # unsorted, from 10
    write_json(json_path, data)
    read = read_interchange(json_path, frame_list, "triplet")
    assert read.classes.ids == [10, 11, 12] and read.classes.prompts == ["t10", "t11", "t12"]  # no description: the name
    assert read.videos[0].labels.tolist() == [[1, 0, 1], [0, 1, 0]]


def test_single_label_null_and_minus_one_are_unlabelled_and_counted(tmp_path):
    json_path, frame_list = write_interchange(str(tmp_path), {"a": [(1, {"steps": 0}), (2, {"steps": -1}),
                                                                    (3, {"steps": None})], "b": [(1, {})]},
                                              {"steps": ["s0", "s1"]})
    read = read_interchange(json_path, frame_list, "steps")
    assert [v.video_id for v in read.videos] == ["a"]
    assert read.skipped == {"unlabelled frames": 3, "videos without labels": 1}


def _edit(json_path, change):
    data = read_json(json_path)
    change(data)
    write_json(json_path, data)


def _fails(json_path, frame_list, task, *needles, frames_root=None):
    with pytest.raises(DataFormatError) as info:
        read_interchange(json_path, frame_list, task, frames_root=frames_root)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message
    return info.value


def test_unknown_class_id_names_the_annotation(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    _edit(json_path, lambda d: d["annotations"][4].update(phases=7))
    _fails(json_path, frame_list, "phases", json_path, "annotations[4]", "unknown `phases` class id 7", "0..2")


def test_multi_hot_vector_instead_of_ids_is_refused(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    _edit(json_path, lambda d: d["annotations"][0].update(tools=[1, 0, 0, 0]))
    _fails(json_path, frame_list, "tools", "annotations[0]", "repeats a class id", "not multi-hot")


def test_mixed_single_and_list_values(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    _edit(json_path, lambda d: d["annotations"][0].update(phases=[0]))
    _fails(json_path, frame_list, "phases", "mix single ids and lists")


def test_missing_frame_file_names_the_frame_list_row(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    os.remove(tmp_path / "frames" / "v02" / "0004.png")
    err = _fails(json_path, frame_list, "phases", frame_list, "row 5", "frames/v02/0004.png")
    assert err.row == 5


def test_frame_list_row_without_image(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    with open(frame_list, "a") as f:
        f.write("v02 2 7 frames/v02/0007.png\n")
    _fails(json_path, frame_list, "phases", frame_list, "row 7", "frame 7 has no image")


def test_image_missing_from_frame_list(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    lines = open(frame_list).read().splitlines()
    with open(frame_list, "w") as f:
        f.write("\n".join(lines[:-1]) + "\n")
    _fails(json_path, frame_list, "phases", json_path, "image 6 (video v02, frame 6) is not in the frame list")


def test_frame_list_disagrees_on_video_number_and_duplicates(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    text = open(frame_list).read()
    with open(frame_list, "w") as f:
        f.write(text.replace("v01 1 2 ", "v01 9 2 "))
    _fails(json_path, frame_list, "phases", frame_list, "row 2", "video_num 9")
    with open(frame_list, "w") as f:
        f.write(text + text.splitlines()[0] + "\n")
    _fails(json_path, frame_list, "phases", "row 7", "listed twice (first at row 1)")
    with open(frame_list, "w") as f:
        f.write(text.replace("v01 1 2 frames", "v01 1 two frames"))
    _fails(json_path, frame_list, "phases", "row 2", "must be integers")
    with open(frame_list, "w") as f:
        f.write(text.replace("v01 1 2 ", "v01 1 2 x "))
    _fails(json_path, frame_list, "phases", "row 2", "expected 4 fields")


def test_annotation_of_unknown_image_and_second_label(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    _edit(json_path, lambda d: d["annotations"].append({"image_id": 99, "phases": 0}))
    _fails(json_path, frame_list, "phases", "annotations[6]", "image_id 99 is not an image")
    json_path, frame_list = _two_videos(tmp_path)
    _edit(json_path, lambda d: d["annotations"].append({"image_id": 1, "phases": 1}))
    _fails(json_path, frame_list, "phases", "annotations[6]", "image 1 has a second `phases` label")


def test_task_without_categories_and_bad_json(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    _fails(json_path, frame_list, "steps", "no `steps_categories`", "phases, tools")
    with open(json_path, "w") as f:
        f.write("{not json")
    _fails(json_path, frame_list, "phases", json_path, "not valid JSON")
    with open(json_path, "w") as f:
        json.dump({"images": {}}, f)
    _fails(json_path, frame_list, "phases", "`images` must be a list")


def test_frames_root_from_info_and_argument(tmp_path):
    json_path, frame_list = _two_videos(tmp_path)
    moved = tmp_path / "lists"
    moved.mkdir()
    os.replace(frame_list, moved / "set_frames.txt")
    _fails(json_path, str(moved / "set_frames.txt"), "phases", "not found under")
    read = read_interchange(json_path, str(moved / "set_frames.txt"), "phases", frames_root=str(tmp_path))
    assert read.frames == 5
    _edit(json_path, lambda d: d.update(info={"frames_root": str(tmp_path)}))
    assert read_interchange(json_path, str(moved / "set_frames.txt"), "phases").frames == 5
    assert np.array_equal(read.videos[0].labels, [0, 1, 2])


# ----------------------------------------------------------------------------- the field metrics and protocols
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_field_recognition_metrics_match_sklearn(seed):
    from sklearn.metrics import accuracy_score, f1_score

    from surgvlp_fast.evaluation.metrics import field_recognition_metrics

    rng = np.random.default_rng(seed)
    classes = 6
    per_video = {f"v{i}": (rng.integers(0, 4, n), rng.integers(1, 5, n)) for i, n in enumerate((7, 30, 12))}
    m = field_recognition_metrics(per_video, classes)
    videos = list(per_video.values())
    assert m["video_accuracy"] == pytest.approx(100 * np.mean([accuracy_score(l, p) for l, p in videos]))
    assert m["video_f1"] == pytest.approx(100 * np.mean([f1_score(l, p, average="macro") for l, p in videos]))
    assert m["video_f1_all"] == pytest.approx(100 * np.mean(
        [f1_score(l, p, labels=range(classes), average="macro", zero_division=0) for l, p in videos]))
    labels, preds = np.concatenate([l for l, _ in videos]), np.concatenate([p for _, p in videos])
    assert m["pooled_accuracy"] == pytest.approx(100 * accuracy_score(labels, preds))
    assert m["pooled_f1"] == pytest.approx(100 * f1_score(labels, preds, average="macro"))
    assert m["pooled_f1_all"] == pytest.approx(100 * f1_score(labels, preds, labels=range(classes), average="macro",
                                                              zero_division=0))
    assert m["frames"] == 49 and m["videos"] == 3
    assert m["video_f1_all"] < m["video_f1"]            # classes 4, 5 never appear: the two F1s differ


def test_pooled_map_matches_sklearn_nan_mean():
    from sklearn.metrics import average_precision_score

    from surgvlp_fast.evaluation.metrics import pooled_map

    rng = np.random.default_rng(3)
    targets = (rng.random((40, 5)) < 0.3).astype(int)
    targets[:, 4] = 0                                                # a class without positives: NaN, left out
    scores = np.round(rng.random((40, 5)), 1)                        # ties
    m = pooled_map(targets, scores)
    expected = [average_precision_score(targets[:, c], scores[:, c]) for c in range(4)]
    assert m["mAP"] == pytest.approx(100 * np.mean(expected))
    assert m["AP"][:4] == pytest.approx([100 * e for e in expected]) and np.isnan(m["AP"][4])
    assert m["classes_without_positives"] == 1


def _interchange_from_videos(videos, kind, names):
    from surgvlp_fast.evaluation.downstream.interchange import InterchangeSet, TaskClasses

    classes = TaskClasses("phases" if kind == SINGLE else "tools", kind, list(range(len(names))), names, names)
    return InterchangeSet("mem.json", classes, videos, {"unlabelled frames": 2})


def test_zero_shot_field_single_and_multi_label(tokenizer):
    from eval_fakes import NUM_CLASSES, PROMPTS, OracleEncoder, make_videos

    from surgvlp_fast.evaluation.downstream import DownstreamVideo
    from surgvlp_fast.evaluation.field_zero_shot import protocol_tag, zero_shot_field

    model = OracleEncoder(tokenizer)
    videos = make_videos([9, 14], misread=0.3, seed=4)
    data = _interchange_from_videos(videos, SINGLE, [f"c{i}" for i in range(NUM_CLASSES)])
    tag = protocol_tag(SINGLE, "test prompts", "no resize", 1)
    result = zero_shot_field(model, tokenizer, data, [[p] for p in PROMPTS], protocol=tag, name="field-x", max_length=16)
    m = result.metrics
    shown = {v: p for v, (_, p) in result.per_video.items()}
    accuracy = np.mean([np.mean(v.labels == shown[v.video_id]) for v in videos])
    assert 0 < m["video_accuracy"] < 100 and m["video_accuracy"] == pytest.approx(100 * accuracy)
    assert m["protocol"] == tag and "per video then mean" in tag and m["skipped"] == {"unlabelled frames": 2}
    rows = result.table_rows("field-x")
    assert [r[2] for r in rows] == ["video_accuracy", "video_f1", "video_f1_all", "pooled_accuracy", "pooled_f1",
                                    "pooled_f1_all"] and rows[0][-1] == tag
    # multi-label: targets = the shown class; the oracle scores it highest, so every AP is 1
    multi = [DownstreamVideo(v.video_id, v.frames, np.eye(NUM_CLASSES, dtype=np.int64)[shown[v.video_id]])
             for v in videos]
    data = _interchange_from_videos(multi, MULTI, [f"c{i}" for i in range(NUM_CLASSES)])
    result = zero_shot_field(model, tokenizer, data, [[p] for p in PROMPTS], protocol="t", max_length=16)
    assert result.metrics["mAP"] == pytest.approx(100.0) and result.scalars("f") == {"f/mAP": pytest.approx(100.0)}
    with pytest.raises(ValueError, match="4 prompt groups for 5 classes"):
        zero_shot_field(model, tokenizer, data, [[p] for p in PROMPTS[:4]], protocol="t")


def test_field_protocol_on_a_converted_set(tmp_path, tokenizer):
    from eval_fakes import LinearEncoder
    from interchange_fixtures import write_cholec80

    from surgvlp_fast.evaluation import EvalOptions, evaluate
    from surgvlp_fast.evaluation.downstream import cholec80

    root = str(tmp_path / "native")
    phases = ["Preparation"] * 50 + ["CalotTriangleDissection"] * 50
    write_cholec80(root, 1, phases, {0: [1, 0, 0, 0, 0, 0, 0], 25: [0, 0, 1, 0, 0, 0, 0]}, frames=4)
    cholec80.convert(root, str(tmp_path / "data" / "field"))
    model = LinearEncoder(len(tokenizer.get_vocab()))
    options = EvalOptions(resize="16x16", crop=16, batch_size=3, max_length=16)
    result = evaluate("field-cholec80-phase", model, tokenizer, str(tmp_path / "data"), options)
    assert result.metrics["frames"] == 4 and result.metrics["videos"] == 1
    assert "prompts: the interchange JSON's descriptions" in result.metrics["protocol"]
    assert "resize 16x16 + centre crop 16" in result.metrics["protocol"]
    tools = evaluate("field-cholec80-tool", model, tokenizer, str(tmp_path / "data"), options)
    assert tools.metrics["frames"] == 2 and tools.metrics["classes_without_positives"] == 5
    assert tools.metrics["skipped"] == {"unlabelled frames": 2}
    prompts = tmp_path / "p.txt"
    prompts.write_text("a\nb\n")
    with pytest.raises(ValueError, match="2 prompt lines, expected one per class"):
        evaluate("field-cholec80-phase", model, tokenizer, str(tmp_path / "data"), EvalOptions(prompts=str(prompts)))
    with pytest.raises(ValueError, match="option videos does not apply"):
        evaluate("field-cholec80-phase", model, tokenizer, str(tmp_path / "data"), EvalOptions(videos="1"))
    with pytest.raises(DataFormatError, match="grasp.json: file not found"):
        evaluate("field-grasp-phase", model, tokenizer, str(tmp_path / "data"), options)


def test_field_protocol_caches_frame_features_per_checkpoint_and_set(tmp_path, tokenizer):
    import torch
    from eval_fakes import LinearEncoder
    from interchange_fixtures import write_cholec80

    from surgvlp_fast.evaluation import EvalOptions, evaluate
    from surgvlp_fast.evaluation.downstream import cholec80

    write_cholec80(str(tmp_path / "native"), 1, ["Preparation"] * 60 + ["ClippingCutting"] * 40, None, frames=4)
    cholec80.convert(str(tmp_path / "native"), str(tmp_path / "data" / "field"))
    model = LinearEncoder(len(tokenizer.get_vocab()))
    options = EvalOptions(resize="16x16", crop=16, max_length=16, cache_dir=str(tmp_path / "cache"), model_key="ckpt")
    first = evaluate("field-cholec80-phase", model, tokenizer, str(tmp_path / "data"), options)
    cached = list((tmp_path / "cache" / "ckpt" / "field-cholec80-16x16-16").glob("video01-*.pt"))
    assert len(cached) == 1 and torch.load(cached[0]).shape[0] == 4
    with torch.no_grad():
        model.frame_proj.mul_(-1.0)                         # other frame weights, same model key: the cache answers
    again = evaluate("field-cholec80-phase", model, tokenizer, str(tmp_path / "data"), options)
    assert again.per_video["video01"][1].tolist() == first.per_video["video01"][1].tolist()
    fresh = evaluate("field-cholec80-phase", model, tokenizer, str(tmp_path / "data"),
                     EvalOptions(resize="16x16", crop=16, max_length=16))
    assert fresh.per_video["video01"][1].tolist() != first.per_video["video01"][1].tolist()
