"""Native release -> interchange converters (Cholec80, MultiBypass140, GraSP): output against
hand-computed labels, read back by the interchange reader; hostile inputs give one line naming the
file and row; the `convert-downstream` and `validate-data --downstream` commands."""
import os
import subprocess
import sys

import pytest
from interchange_fixtures import (CHOLEC_PHASES, read_json, write_bypass, write_cholec80, write_grasp,
                                  write_split_pickle)

from surgvlp_fast import resources
from surgvlp_fast.errors import DataFormatError
from surgvlp_fast.evaluation.downstream import cholec80, grasp, multibypass140
from surgvlp_fast.evaluation.downstream.convert import readable
from surgvlp_fast.evaluation.downstream.interchange import read_interchange
from surgvlp_fast.evaluation.downstream.registry import check_native

ONE_HOT = {0: [1, 0, 0, 0, 0, 0, 0], 25: [1, 0, 1, 0, 0, 0, 0], 50: [0, 0, 0, 0, 1, 1, 0]}


def _phase_rows(n):
    """25 fps phase names: frames 0-29 Preparation, 30-74 CalotTriangleDissection, then ClippingCutting."""
    return [CHOLEC_PHASES[0] if i < 30 else CHOLEC_PHASES[1] if i < 75 else CHOLEC_PHASES[2] for i in range(n)]


def _read(report, task):
    return read_interchange(report.json_path, report.frame_list, task)


def test_cholec80_phases_at_25fps_and_tools_at_1fps(tmp_path):
    root = tmp_path / "cholec80"
    write_cholec80(str(root), 3, _phase_rows(100), ONE_HOT, frames=4)
    report = cholec80.convert(str(root), str(tmp_path / "out"))
    phases = _read(report, "phases")
    # 1 fps frame K <- 25 fps row (K-1)*25: rows 0, 25, 50, 75
    assert phases.videos[0].video_id == "video03" and phases.videos[0].labels.tolist() == [0, 0, 1, 2]
    # the packaged prompts (our own wording), one per phase
    assert phases.classes.prompts == resources.class_prompts("cholec80") and len(set(phases.classes.prompts)) == 7
    tools = _read(report, "tools")
    assert tools.videos[0].labels.tolist() == [ONE_HOT[0], ONE_HOT[25], ONE_HOT[50]]
    assert tools.skipped == {"unlabelled frames": 1}                     # frame 4 has no tool row
    assert report.skipped == {"frames without a tool label": 1}
    assert [os.path.basename(f) for f in phases.videos[0].frames.files] == [f"video03_{k}.png" for k in (1, 2, 3, 4)]
    assert read_json(report.json_path)["images"][0]["frame_num"] == 1


def test_cholec80_label_rows_past_the_last_frame(tmp_path):
    root = str(tmp_path / "c")
    write_cholec80(root, 1, _phase_rows(101), None, frames=4)      # one sampled row (frame 100) past frame 4
    report = cholec80.convert(root, str(tmp_path / "out"))
    assert report.skipped == {"label rows past the last frame (tolerance 1)": 1, "videos without a tool file": 1}
    write_cholec80(root, 1, _phase_rows(126), None, frames=4)      # frames 100 and 125: two rows past
    with pytest.raises(DataFormatError, match=r"video01-phase\.txt, row 102: label row past the last frame"):
        cholec80.convert(root, str(tmp_path / "out"))
    with pytest.raises(DataFormatError, match="row 102"):
        cholec80.convert(root, str(tmp_path / "out"), tail_tolerance=0)


def test_cholec80_hostile_inputs(tmp_path):
    root = str(tmp_path / "c")
    rows = _phase_rows(100)
    rows[50] = "Clipping"
    write_cholec80(root, 1, rows, None, frames=4)
    with pytest.raises(DataFormatError, match=r"row 52: unknown phase 'Clipping'"):
        cholec80.convert(root, str(tmp_path / "out"))
    write_cholec80(root, 1, _phase_rows(100), {0: ONE_HOT[0], 30: ONE_HOT[25]}, frames=4)
    with pytest.raises(DataFormatError, match=r"video01-tool\.txt, row 3: frame 30 is not a multiple of 25"):
        cholec80.convert(root, str(tmp_path / "out"))
    write_cholec80(root, 1, _phase_rows(100), {0: [2, 0, 0, 0, 0, 0, 0]}, frames=4)
    with pytest.raises(DataFormatError, match=r"row 2: tool values must be 0 or 1"):
        cholec80.convert(root, str(tmp_path / "out"))
    write_cholec80(root, 1, _phase_rows(100), None, frames=4)
    os.remove(os.path.join(root, "frames", "video01_2.png"))
    with pytest.raises(DataFormatError, match=r"video01_3\.png: frame 2 of video01 is missing"):
        cholec80.convert(root, str(tmp_path / "out"))


def _bypass(root, video="BBP01", phases=None, frames=6, steps=None):
    phases = phases if phases is not None else [
        (0, 3500, 0, "preparation"), (3500, 6000, 1, "gastric_pouch_creation"),
        (1000, 2000, 12, "out_of_body"), (1500, 4200, 13, "severe_index")]
    steps = steps if steps is not None else [(0, 2000, 0, "s0_null_step"), (2500, 4000, 2, "s2_trocar_placement")]
    write_bypass(root, video, phases, steps, frames)


def test_multibypass_overlays_by_precedence_and_steps(tmp_path):
    """Frame K at K s takes the segment with start < K*1000 <= end; the main phase beats the overlays, which
    label no frame (the release's own 1 fps ground truth, its split pickles' Phase_gt / Step_gt)."""
    root = str(tmp_path / "mb")
    _bypass(root)
    report = multibypass140.convert(root, str(tmp_path / "out"), name="bernbypass70")
    # frames at 1..6 s: prep (0, 3.5] for 1-3 s, pouch (3.5, 6] for 4-6 s; out_of_body (1, 2] and severe_index
    # (1.5, 4.2] lie over main phases and change nothing
    phases = _read(report, "phases")
    assert phases.videos[0].labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert phases.classes.names == multibypass140.PHASES[:12] and len(phases.classes.ids) == 12
    steps = _read(report, "steps")
    # every step of tables/step.csv is a class, shown or not (a split's classifier is the release's 46 steps)
    assert len(steps.classes.names) == 46 and steps.classes.ids == list(range(46))
    assert steps.classes.names[45] == "s45_specimen_retrieval" and steps.classes.names[2] == "s2_trocar_placement"
    assert steps.videos[0].labels.tolist() == [0, 0, 2, 2]          # (0, 2] -> 1-2 s, (2.5, 4] -> 3-4 s; 5, 6 s none
    assert report.skipped == {"frames without a step label": 2}
    assert steps.classes.prompts[:3] == ["s0 null step", "s1 cavity exploration", "s2 trocar placement"]
    # a boundary second goes to the segment ending there; an overlay alone labels nothing (counted)
    _bypass(root, phases=[(0, 3000, 0, "preparation"), (3000, 4000, 1, "gastric_pouch_creation"),
                          (4000, 5500, 12, "out_of_body"), (3100, 3200, 13, "severe_index")])
    report = multibypass140.convert(root, str(tmp_path / "out"), name="bernbypass70")
    assert _read(report, "phases").videos[0].labels.tolist() == [0, 0, 0, 1]          # 1-3 s prep, 4 s pouch
    assert report.skipped == {"frames without a phase label (out_of_body / severe_index alone covers them)": 1,
                              "frames without a phase label": 1, "frames without a step label": 2}


def test_multibypass_hostile_inputs(tmp_path):
    root = str(tmp_path / "mb")
    _bypass(root, phases=[(0, 3500, 0, "preparation"), (3000, 6000, 1, "gastric_pouch_creation")])
    with pytest.raises(DataFormatError, match=r"BBP01\.mp4\.json: phases\[1\] \(1\) overlaps phases\[0\] \(0\) at 3 s "
                                              r"and no precedence rule"):
        multibypass140.convert(root, str(tmp_path / "out"))
    _bypass(root, phases=[(0, 3500, 0, "preparation"), (3200, 3400, 1, "gastric_pouch_creation")])
    with pytest.raises(DataFormatError, match=r"phases\[1\] \(1\) overlaps phases\[0\] \(0\) at 3\.2 s"):
        multibypass140.convert(root, str(tmp_path / "out"))         # no frame falls in the overlap: still refused
    _bypass(root, phases=[(0, 6000, 0, "preparation"), (7000, 9000, 1, "gastric_pouch_creation")])
    with pytest.raises(DataFormatError, match=r"BBP01\.mp4\.json: phases\[1\] starts past the last frame \(6 s"):
        multibypass140.convert(root, str(tmp_path / "out"))
    _bypass(root, phases=[(0, 6000, 1, "preparation")])
    with pytest.raises(DataFormatError, match=r"phases\[0\]: label 1 'preparation' is not in the phase table"):
        multibypass140.convert(root, str(tmp_path / "out"))
    _bypass(root, steps=[(0, 2000, 3, "s2_trocar_placement")])
    with pytest.raises(DataFormatError, match=r"steps\[0\]: label 3 's2_trocar_placement' is not in the step table"):
        multibypass140.convert(root, str(tmp_path / "out"))
    _bypass(root, steps=[(0, 2000, 46, "s46_unknown")])
    with pytest.raises(DataFormatError, match=r"steps\[0\]: label 46 's46_unknown' is not in the step table"):
        multibypass140.convert(root, str(tmp_path / "out"))


def test_multibypass_split_pickle_plain_and_hostile(tmp_path):
    root = str(tmp_path / "mb")
    for v in ("BBP01", "BBP02", "BBP03"):
        _bypass(root, video=v)
    write_split_pickle(root, "test/1fps_0", ["BBP03", "BBP01"])
    report = multibypass140.convert(root, str(tmp_path / "out"), split="test/1fps_0")
    phases = _read(report, "phases")
    assert [v.video_id for v in phases.videos] == ["BBP01", "BBP03"]
    # the pickle lists frames 1-2 (Phase_gt 0, Step_gt 0, as converted): only they are labelled, the rest counted
    assert [v.labels.tolist() for v in phases.videos] == [[0, 0], [0, 0]]
    assert report.skipped["frames without a phase label (labelled, but not in the split pickle)"] == 2 * 4
    records = [{"Frame_id": f"BBP01_{k:08d}", "Original_frame_id": k - 1, "Phase_gt": gt, "Step_gt": 0, "unique_id": k}
               for k, gt in ((1, 0), (2, 1))]
    write_split_pickle(root, "test/1fps_3", [], payload={"BBP01": records})
    with pytest.raises(DataFormatError, match=r"1fps_3\.pickle: video BBP01 frame 2: phases 1 in the split pickle but "
                                              r"0 from labels_by70/BBP01\.mp4\.json"):
        multibypass140.convert(root, str(tmp_path / "out"), split="test/1fps_3")
    write_split_pickle(root, "test/1fps_4", [], payload={"BBP01": [dict(records[0], Frame_id="BBP01_00000009")]})
    with pytest.raises(DataFormatError, match=r"video BBP01 record 0: frame 9 is not in frames/BBP01"):
        multibypass140.convert(root, str(tmp_path / "out"), split="test/1fps_4")
    path = write_split_pickle(root, "test/1fps_1", [], payload={"BBP01": [os.path.join]})   # a function: a GLOBAL
    with pytest.raises(DataFormatError, match=r"1fps_1\.pickle: not a plain-data split pickle \(refused to load"):
        multibypass140.read_split_pickle(path)
    with open(path, "wb") as f:
        f.write(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR.")
    with pytest.raises(DataFormatError, match="refused to load os.system"):
        multibypass140.convert(root, str(tmp_path / "out"), split="test/1fps_1")
    assert not (tmp_path / "pwned").exists()
    write_split_pickle(root, "test/1fps_2", [], payload={"BBP09": []})
    with pytest.raises(DataFormatError, match="video BBP09 has no label file"):
        multibypass140.convert(root, str(tmp_path / "out"), split="test/1fps_2")


def test_grasp_long_and_short_term_joined(tmp_path):
    root = str(tmp_path / "grasp")
    write_grasp(root, [("CASE001", 35, 2, 4), ("CASE001", 0, 1, 3), ("CASE002", 0, 0, 0)],
                [("CASE001", 35, [3, 1]), ("CASE002", 10, [])])
    report = grasp.convert(root, str(tmp_path / "out"))
    phases, steps, tools = (_read(report, t) for t in ("phases", "steps", "tools"))
    assert [v.labels.tolist() for v in phases.videos] == [[1, 2], [0]]
    assert [v.labels.tolist() for v in steps.videos] == [[3, 4], [0]]
    assert phases.classes.prompts[2] == "phase 2 happens" and steps.classes.prompts[2] == "step 2"
    assert tools.classes.ids == list(range(1, 8))
    assert [v.labels.tolist() for v in tools.videos] == [[[1, 0, 1, 0, 0, 0, 0]], [[0] * 7]]
    assert report.skipped == {"frames without a phases label": 1, "frames without a steps label": 1,
                              "frames without a tools label": 2}


def test_grasp_short_term_instruments_field_as_tapis_reads_it(tmp_path):
    """The release's short-term instances carry `instruments` (1-based, what TAPIS reads); an instance with an
    empty box [0, 0, 0, 0] gives no label (TAPIS skips it) and is counted."""
    from interchange_fixtures import read_json, write_json

    root = str(tmp_path / "grasp")
    write_grasp(root, [("CASE001", 0, 1, 3), ("CASE001", 35, 2, 4)], [("CASE001", 0, [1]), ("CASE001", 35, [5])])
    path = os.path.join(root, "annotations", "grasp_short-term_test.json")
    data = read_json(path)
    first, second = data["annotations"]
    data["annotations"] = [
        {"image_id": first["image_id"], "instruments": 4, "actions": [1, 2], "bbox": [1, 2, 3, 4]},   # 4, not 1
        {"image_id": first["image_id"], "instruments": 7, "actions": [3], "bbox": [0, 0, 0, 0]},      # ignored
        {"image_id": second["image_id"], "instruments": [2, 6], "bbox": [5, 5, 2, 2]}]
    data["instruments_categories"] = data.pop("categories")
    write_json(path, data)
    report = grasp.convert(root, str(tmp_path / "out"))
    assert [v.labels.tolist() for v in _read(report, "tools").videos] == [[[0, 0, 0, 1, 0, 0, 0],
                                                                            [0, 1, 0, 0, 0, 1, 0]]]
    assert report.skipped == {"instrument annotations with an empty box [0, 0, 0, 0] (ignored)": 1}
    assert _read(report, "tools").skipped == {"at conversion: instrument annotations with an empty box "
                                              "[0, 0, 0, 0] (ignored)": 1}     # carried into every later run
    data["annotations"][0]["instruments"] = "grasper"
    write_json(path, data)
    with pytest.raises(DataFormatError, match=r"annotations\[0\]: expected an integer `instruments`"):
        grasp.convert(root, str(tmp_path / "out"))


def test_grasp_hostile_inputs(tmp_path):
    root = str(tmp_path / "grasp")
    write_grasp(root, [("CASE001", 0, 11, 0)])
    with pytest.raises(DataFormatError, match=r"grasp_long-term_test\.json: annotations\[0\]: unknown phases id 11"):
        grasp.convert(root, str(tmp_path / "out"))
    write_grasp(root, [("CASE001", 0, 1, 0)], [("CASE001", 0, [8])])
    with pytest.raises(DataFormatError, match=r"short-term_test\.json: annotations\[0\]: unknown instrument id 8"):
        grasp.convert(root, str(tmp_path / "out"))
    os.remove(os.path.join(root, "annotations", "grasp_short-term_test.json"))
    write_grasp(root, [("CASE001", 0, 1, 0)])
    os.remove(os.path.join(root, "frames", "CASE001", "000000000.jpg"))
    with pytest.raises(DataFormatError, match=r"frame frames/CASE001/000000000\.jpg of CASE001 \(frame_num 0\) not found"):
        grasp.convert(root, str(tmp_path / "out"))


def test_readable_names():
    assert readable("CalotTriangleDissection") == "calot triangle dissection"
    assert readable("gastric_pouch_creation") == "gastric pouch creation"
    assert readable("SpecimenBag") == "specimen bag"


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.run([sys.executable, "-m", "surgvlp_fast.cli", *args], capture_output=True, text=True, env=env)


def test_convert_and_validate_commands(tmp_path):
    root = str(tmp_path / "c")
    write_cholec80(root, 1, _phase_rows(100), ONE_HOT, frames=4)
    write_cholec80(root, 2, _phase_rows(100), ONE_HOT, frames=4)
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"my prompt {i}\n" for i in range(7)))
    done = _cli("convert-downstream", "cholec80", root, str(tmp_path / "out"), "--videos", "2",
                "--prompts", f"tools={prompts}")
    assert done.returncode == 0, done.stderr
    assert "cholec80: 1 video(s), 4 frame(s)" in done.stdout and "skipped: 1 frames without a tool label" in done.stdout
    data = read_json(tmp_path / "out" / "cholec80.json")
    assert [c["description"] for c in data["tools_categories"]][:2] == ["my prompt 0", "my prompt 1"]
    assert {i["video_name"] for i in data["images"]} == {"video02"}
    bad = _cli("convert-downstream", "cholec80", root, str(tmp_path / "out"), "--split", "test")
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "takes no --split" in bad.stderr
    prompts.write_text("one\ntwo\n")
    bad = _cli("convert-downstream", "cholec80", root, str(tmp_path / "out"), "--prompts", f"tools={prompts}")
    assert bad.returncode == 1 and f"{prompts}: 2 prompt line(s) for the 7 tools classes of cholec80" in bad.stderr
    # a task the set does not have, an empty or missing prompt file: one line naming it, never ignored
    for spec, message in ((f"tool={prompts}", "cholec80 has no task 'tool' (its tasks: phases, tools)"),
                          (f"phases={tmp_path / 'none.txt'}", "none.txt: cannot read the prompt file"),
                          (f"phases={tmp_path / 'empty.txt'}", "empty.txt: the prompt file is empty")):
        (tmp_path / "empty.txt").write_text("\n")
        bad = _cli("convert-downstream", "cholec80", root, str(tmp_path / "out"), "--prompts", spec)
        assert bad.returncode == 1 and message in bad.stderr and bad.stderr.strip().count("\n") == 0, bad.stderr
    helped = _cli("convert-downstream", "--help")
    assert "heichole: video numbers" in " ".join(helped.stdout.split())
    ok = _cli("validate-data", "--downstream", "cholec80", root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "phases: 2 video(s), 8 labelled frame(s)" in ok.stdout and "0 error(s)" in ok.stdout
    # validate-data takes the converter's options as convert-downstream does
    one = _cli("validate-data", "--downstream", "cholec80", root, "--videos", "2")
    assert one.returncode == 0 and "phases: 1 video(s), 4 labelled frame(s)" in one.stdout, one.stdout + one.stderr
    bad = _cli("validate-data", "--downstream", "cholec80", root, "--split", "test")
    assert bad.returncode == 1 and "takes no --split" in bad.stdout + bad.stderr
    os.remove(os.path.join(root, "frames", "video02_4.png"))
    os.remove(os.path.join(root, "frames", "video02_3.png"))
    bad = _cli("validate-data", "--downstream", "cholec80", root)
    assert bad.returncode == 1 and "video02-phase.txt, row 52: label row past the last frame" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr


def test_check_native_reads_every_task(tmp_path):
    root = str(tmp_path / "mb")
    _bypass(root, video="SBP07")
    os.rename(os.path.join(root, "labels", "bern"), os.path.join(root, "labels", "strasbourg"))
    report, tasks = check_native("strasbypass70", root)
    assert report.videos == 1 and tasks["phases"]["frames"] == 6 and tasks["steps"]["frames"] == 4
    with pytest.raises(DataFormatError, match="no XBPnn.mp4.json label files"):
        check_native("bernbypass70", root)


def test_sar_rarp50_actions_at_10hz(tmp_path):
    from interchange_fixtures import write_sar

    from surgvlp_fast.evaluation.downstream import sar_rarp50

    root = str(tmp_path / "sar")
    write_sar(root, 41, ["0,0", "6,1", "12,1", "18,7"], [0, 6, 12, 18, 24])
    # frame ids as the challenge's own tools write them: the 9-digit stem of rgb/<60 fps frame index>.png
    write_sar(root, 3, ["000000000,5", "000000006,6"], [0, 6])
    report = sar_rarp50.convert(root, str(tmp_path / "out"), split="test")
    actions = _read(report, "actions")
    assert [v.video_id for v in actions.videos] == ["video_3", "video_41"]
    assert [v.labels.tolist() for v in actions.videos] == [[5, 6], [0, 1, 1, 7]]
    assert report.skipped == {"frames without an action label": 1}          # frame 24 of video_41
    assert actions.classes.names[7] == "Returning/dropping the needle"
    for case, (rows, frames, error) in enumerate([
            (["0,0", "6,8"], [0, 6], r"video_1/action_discrete\.txt, row 2: unknown action id 8"),
            (["0,0", "6,1", "12,2"], [0, 12], r"row 2: frame 000000006\.png is missing"),
            (["0,0", "6,1", "12,2"], [0, 6], r"row 3: label row past the last frame"),
            (["0;0"], [0], r"row 1: expected `frame_id,action_id` integers")]):
        bad = str(tmp_path / f"bad{case}")
        write_sar(bad, 1, rows, frames)
        with pytest.raises(DataFormatError, match=error):
            sar_rarp50.convert(bad, str(tmp_path / "out"), split="test")


def test_field_suite_runs_present_sets_and_writes_both_tables(tmp_path, tokenizer):
    from eval_fakes import LinearEncoder

    from surgvlp_fast.evaluation import EvalOptions
    from surgvlp_fast.evaluation.field_suite import COLUMNS, run_field_suite, write_field_tables

    field = str(tmp_path / "data" / "field")
    write_cholec80(str(tmp_path / "c80"), 1, _phase_rows(100), ONE_HOT, frames=4)
    cholec80.convert(str(tmp_path / "c80"), field)
    write_grasp(str(tmp_path / "grasp"), [("CASE001", 0, 1, 3), ("CASE001", 35, 2, 4)], [("CASE001", 35, [1])])
    grasp.convert(str(tmp_path / "grasp"), field)
    model = LinearEncoder(len(tokenizer.get_vocab()))
    results, absent = run_field_suite(model, tokenizer, str(tmp_path / "data"),
                                      EvalOptions(resize="16x16", crop=16, max_length=16))
    assert sorted(results) == ["field-cholec80-phase", "field-cholec80-tool", "field-grasp-phase", "field-grasp-step",
                               "field-grasp-tool"]
    assert len(absent) == 5 and "cholect50" in absent and "field-sarrarp50-action" in absent
    paths = write_field_tables(tmp_path / "out", "tiny", results, absent)
    md = open(paths["markdown"]).read()
    m = results["field-cholec80-phase"].metrics
    assert f"{m['video_accuracy']:.2f} / {m['video_f1_all']:.2f}" in md
    assert "cell = video_accuracy / video_f1_all" in md and "Absent (no data): field-autolaparo-phase" in md
    assert "| PeskaVLP | SurgCLIP README" in md and "51.43 / 39.39" in md
    import csv
    rows = list(csv.reader(open(paths["csv"])))
    assert len(rows[0]) == 2 + len(COLUMNS) == 12 and rows[1][:2] == ["tiny", "this run"] and rows[1][3] == "absent"
    assert rows[2][0] == "protocol" and rows[2][2].startswith("field-cholec80-phase: zero-shot argmax")


def test_field_suite_scores_heichole_after_the_ten_columns_and_lists_unread_files(tmp_path, tokenizer):
    """HeiChole (SurgCLIP's test config, not its table) present under field/: scored as extra columns after
    the ten, never listed as absent; a field JSON no column reads is listed, not silently passed over."""
    import csv

    from eval_fakes import LinearEncoder

    from surgvlp_fast.evaluation import EvalOptions
    from surgvlp_fast.evaluation.downstream import heichole
    from surgvlp_fast.evaluation.field_suite import (COLUMNS, PUBLISHED, run_field_suite, unread_field_files,
                                                     write_field_tables)

    root = write_heichole(tmp_path / "hei")
    data = tmp_path / "data"
    heichole.convert(str(root), str(data / "field"))
    (data / "field" / "cholec80_tools.json").write_text("{}")
    assert unread_field_files(str(data)) == ["cholec80_tools.json"] and unread_field_files(str(root)) == []
    model = LinearEncoder(len(tokenizer.get_vocab()))
    results, absent = run_field_suite(model, tokenizer, str(data), EvalOptions(resize="16x16", crop=16, max_length=16))
    assert sorted(results) == ["field-heichole-phase", "field-heichole-tool"]
    assert absent == [p for _, p in COLUMNS]
    assert results["field-heichole-phase"].metrics["frames"] == 3
    paths = write_field_tables(tmp_path / "out", "tiny", results, absent, unread=["cholec80_tools.json"])
    rows = list(csv.reader(open(paths["csv"])))
    assert rows[0][-2:] == ["HeiChole phase", "HeiChole tool mAP"] and len(rows[0]) == 2 + len(COLUMNS) + 2
    m = results["field-heichole-phase"].metrics
    assert rows[1][-2] == f"{m['video_accuracy']:.2f} / {m['video_f1_all']:.2f}"
    assert rows[1][-1] == f"{results['field-heichole-tool'].metrics['mAP']:.2f}"
    assert rows[2][-1].startswith("field-heichole-tool: zero-shot multi-label")
    published = list(csv.reader(open(paths["published_csv"])))
    assert len(published) == 1 + len(PUBLISHED) and all(len(r) == len(rows[0]) and r[-2:] == ["", ""]
                                                       for r in published[1:])
    md = open(paths["markdown"]).read()
    assert "Not read (no column reads these files of the field folder): cholec80_tools.json" in md
    assert "field-heichole-phase" not in md.split("Absent (no data):")[1].split("\n")[0]


def test_field_cells_of_the_triplet_and_single_label_columns():
    from types import SimpleNamespace

    from surgvlp_fast.evaluation.field_suite import _tag, cell

    triplets = SimpleNamespace(metrics={"ivt": {"mAP": 4.494}, "absent_classes": "nan"})
    assert cell("cholect50", triplets) == "4.49" and "absent from a video skipped" in _tag("cholect50", triplets, "video", "f1")
    single = SimpleNamespace(metrics={"kind": "single", "protocol": "P", "video_accuracy": 50.0, "video_f1": 40.0,
                                      "video_f1_all": 30.0, "pooled_accuracy": 55.0, "pooled_f1": 45.0,
                                      "pooled_f1_all": 35.0})
    assert cell("x", single) == "50.00 / 30.00" and cell("x", single, "pooled", "f1") == "55.00 / 45.00"
    assert _tag("x", single, "pooled", "f1") == "x: P; cell = pooled_accuracy / pooled_f1"


def test_cholect50_release_json_instances(tmp_path):
    from interchange_fixtures import instance, write_cholect50

    from surgvlp_fast.evaluation.downstream import cholect50

    root = str(tmp_path / "t50")
    write_cholect50(root, 6, {0: [instance(4, 1, 0, 4, 0), instance(1, 1, 1, 1, 0)],
                              1: [instance(-1, -1, -1, -1, 2)], 3: []}, frames=4)
    report = cholect50.convert(root, str(tmp_path / "out"))
    read = {t: _read(report, t) for t in ("triplet", "instrument", "verb", "target", "phases")}
    assert read["triplet"].videos[0].labels.tolist() == [[0, 1, 0, 0, 1, 0], [0] * 6, [0] * 6]   # frame 2 unlabelled
    assert read["instrument"].videos[0].labels.tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert read["verb"].videos[0].labels.tolist()[0] == [1, 1, 0, 0]
    assert read["phases"].videos[0].labels.tolist() == [0, 2]                       # frames 0 and 1 carry a phase
    assert read["triplet"].classes.names[4] == "tool1,verb0,target4"
    assert read["triplet"].classes.prompts[4] == "tool1 verb0 target4"
    assert report.skipped == {"frames without a label": 1}
    hostile = [({0: [instance(6, 1, 0, 4, 0)]}, r"annotations\['0'\]\[0\]: unknown triplet id 6"),
               ({0: [instance(4, 1, 0, 4, 0), instance(1, 1, 1, 1, 1)]}, r"instances disagree on the phase \(\[0, 1\]\)"),
               ({0: [[1, 2, 3]]}, r"an instance has 15 values"),
               ({9: [instance(4, 1, 0, 4, 0)]}, r"annotations\['9'\]: frame past the last frame \(4 frames")]
    for case, (annotations, error) in enumerate(hostile):
        bad = str(tmp_path / f"bad{case}")
        write_cholect50(bad, 6, annotations, frames=4)
        with pytest.raises(DataFormatError, match=error):
            cholect50.convert(bad, str(tmp_path / "out"))


def test_autolaparo_camma_csvs_to_interchange(tmp_path):
    from surgvlp_fast.evaluation.downstream import autolaparo

    from interchange_fixtures import write_frame

    base = tmp_path / "data" / "downstream_datasets" / "autolaparo"
    (base / "csvs").mkdir(parents=True)
    (base / "csvs" / "15.csv").write_text("path,label\n15_1.png,1\n15_2.png,3\n15_3.png,7\n")
    for k in (1, 2, 3):
        write_frame(str(base / "frames" / f"15_{k}.png"), k)
    report = autolaparo.convert(str(tmp_path / "data"), str(tmp_path / "out"))
    read = _read(report, "phases")
    assert read.videos[0].video_id == "15" and read.videos[0].labels.tolist() == [0, 2, 6]
    assert [os.path.basename(f) for f in read.videos[0].frames.files] == ["15_1.png", "15_2.png", "15_3.png"]
    assert read.classes.prompts == resources.class_prompts("autolaparo")      # our own wording


def write_heichole(root):
    """A HeiChole video (Hei-Chole2): phase and instrument CSVs at 25 fps (75 rows), 3 frames at 1 fps."""
    from interchange_fixtures import write_frame

    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "Hei-Chole2_Annotation_Phase.csv").write_text(
        "".join(f"{i},{0 if i < 40 else 3}\n" for i in range(75)))
    (root / "Annotations" / "Hei-Chole2_Annotation_Instrument.csv").write_text(
        "".join(f"{i},{int(i >= 25)},0,0,0,0,0,{int(i >= 50)}\n" for i in range(75)))
    for k in (1, 2, 3):
        write_frame(str(root / "frames" / f"Hei-Chole2_{k}.png"), k)
    return root


def test_heichole_phase_and_instrument_csvs(tmp_path):
    from surgvlp_fast.evaluation.downstream import heichole

    root = write_heichole(tmp_path / "hei")
    report = heichole.convert(str(root), str(tmp_path / "out"))
    assert _read(report, "phases").videos[0].labels.tolist() == [0, 0, 3]          # rows 0, 25, 50
    assert _read(report, "tools").videos[0].labels.tolist() == [[0] * 7, [1] + [0] * 6, [1] + [0] * 5 + [1]]
    (root / "Annotations" / "Hei-Chole2_Annotation_Phase.csv").write_text("0,0\n25,7\n")
    with pytest.raises(DataFormatError, match=r"Phase\.csv, row 2: unknown phase id 7"):
        heichole.convert(str(root), str(tmp_path / "out"))
    (root / "Annotations" / "Hei-Chole2_Annotation_Phase.csv").write_text("0,0,1\n")
    with pytest.raises(DataFormatError, match=r"row 1: expected frame \+ 1 value\(s\), got 3 fields"):
        heichole.convert(str(root), str(tmp_path / "out"))


def test_heichole_release_layout_21_instrument_columns_and_50fps_videos(tmp_path):
    """The release's Annotations/Phase and Annotations/Instrument folders (names in any case), category rows of
    frame + 21 columns (7 categories, 13 reserved, undefined shaft), and video 16 at 50 fps."""
    from interchange_fixtures import write_frame

    from surgvlp_fast.evaluation.downstream import heichole

    root = tmp_path / "hei"
    (root / "Annotations" / "Phase").mkdir(parents=True)
    (root / "Annotations" / "Instrument").mkdir(parents=True)
    (root / "Annotations" / "Phase" / "hei-chole16_annotation_phase.csv").write_text(
        "".join(f"{i},{0 if i < 50 else 1 if i < 100 else 2}\n" for i in range(150)))          # 3 s at 50 fps

    def row(i, grasper, hook, shaft, reserved=0):
        values = [grasper, 0, hook, 0, 0, 0, 0] + [reserved] * 13 + [shaft]
        return f"{i}," + ",".join(map(str, values)) + "\n"
    instrument = root / "Annotations" / "Instrument" / "Hei-Chole16_Annotation_Instrument.csv"
    instrument.write_text("".join(row(i, int(i >= 50), int(i >= 100), int(i == 100)) for i in range(150)))
    (root / "Annotations" / "Instrument" / "Hei-Chole16_Annotation_Instrument_Detailed.csv").write_text("not read\n")
    for k in (1, 2, 3):
        write_frame(str(root / "frames" / f"Hei-Chole16_{k}.png"), k)
    report = heichole.convert(str(root), str(tmp_path / "out"))
    assert _read(report, "phases").videos[0].labels.tolist() == [0, 1, 2]                 # rows 0, 50, 100
    assert _read(report, "tools").videos[0].labels.tolist() == [[0] * 7, [1] + [0] * 6, [1, 0, 1, 0, 0, 0, 0]]
    assert report.skipped == {"undefined-instrument-shaft marks (not a class)": 1}
    assert heichole.native_fps(16) == 50 and heichole.native_fps(2) == 25
    instrument.write_text(row(0, 1, 0, 0, reserved=1))
    with pytest.raises(DataFormatError, match=r"Instrument\.csv, row 1: reserved instrument columns 7-19 must be 0"):
        heichole.convert(str(root), str(tmp_path / "out"))
    instrument.write_text("0,1,0,0\n")
    with pytest.raises(DataFormatError, match=r"row 1: expected frame \+ 7 or 21 value\(s\), got 4 fields"):
        heichole.convert(str(root), str(tmp_path / "out"))
    # read at 25 fps, the 50 fps rows would run past the last frame: the rate is checked, not guessed
    (root / "Annotations" / "Phase" / "hei-chole16_annotation_phase.csv").rename(
        root / "Annotations" / "Phase" / "Hei-Chole2_Annotation_Phase.csv")
    for k in (1, 2, 3):
        os.rename(root / "frames" / f"Hei-Chole16_{k}.png", root / "frames" / f"Hei-Chole2_{k}.png")
    with pytest.raises(DataFormatError, match=r"past the last frame"):
        heichole.convert(str(root), str(tmp_path / "out"))


def test_field_protocol_equals_the_phase_protocol_on_the_synthetic_world(world, tmp_path):
    """The world's Cholec80 CSV layout exported to the interchange format: the field protocol's
    per-video numbers are the `cholec80` protocol's (same frames, prompts and preprocessing)."""
    import torch

    from surgvlp_fast.evaluation import EvalOptions, evaluate
    from surgvlp_fast.evaluation.downstream.registry import get_converter
    from surgvlp_fast.models import build_model, load_tokenizer
    from surgvlp_fast.resources import resource_path
    from surgvlp_fast.training.config import load_config

    config = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "demo.yaml")
    cfg = load_config(config, [f"data.root={world}", f"model.text.tokenizer={world}/tokenizer"])
    tokenizer = load_tokenizer(f"{world}/tokenizer")
    torch.manual_seed(0)
    model = build_model(cfg.model, tokenizer)
    report = get_converter("cholec80-csv").convert(world, str(tmp_path / "data" / "field"), videos=[49, 50])
    assert report.frames == 25 + 28 and report.skipped == {}
    small = dict(resize="64x64", crop=64, batch_size=16, max_length=32)
    protocol_prompts = resource_path("cholec80_prompts.txt")     # the cholec80 protocol's prompts, given as a file
    field = evaluate("field-cholec80-phase", model, tokenizer, str(tmp_path / "data"),
                     EvalOptions(prompts=protocol_prompts, **small)).metrics
    reference = evaluate("cholec80", model, tokenizer, world, EvalOptions(videos="49-50", **small)).metrics
    assert field["frames"] == reference["frames"] == 53
    assert field["video_accuracy"] == pytest.approx(reference["accuracy"])
    assert field["video_f1"] == pytest.approx(reference["f1"])


def test_cholect50_column_from_the_interchange_file_is_video_wise(tmp_path, tokenizer):
    import numpy as np
    from eval_fakes import LinearEncoder
    from interchange_fixtures import instance, write_cholect50

    from surgvlp_fast.evaluation import EvalOptions
    from surgvlp_fast.evaluation.downstream import cholect50
    from surgvlp_fast.evaluation.field_suite import run_field_suite, write_field_tables
    from surgvlp_fast.evaluation.metrics import pooled_map, video_wise_ap

    root = str(tmp_path / "t50")
    write_cholect50(root, 6, {0: [instance(4, 1, 0, 4, 0)], 1: [instance(1, 1, 1, 1, 0)], 2: [instance(4, 1, 0, 4, 1)]},
                    frames=3)
    write_cholect50(root, 8, {0: [instance(1, 1, 1, 1, 0)], 1: [instance(2, 2, 2, 2, 0)], 2: []}, frames=3)
    cholect50.convert(root, str(tmp_path / "data" / "field"))
    model = LinearEncoder(len(tokenizer.get_vocab()))
    results, absent = run_field_suite(model, tokenizer, str(tmp_path / "data"),
                                      EvalOptions(resize="16x16", crop=16, max_length=16))
    assert list(results) == ["cholect50"] and "cholect50" not in absent
    m, per_video = results["cholect50"].metrics, results["cholect50"].per_video
    assert m["mAP"] == pytest.approx(100 * video_wise_ap(list(per_video.values()))["mAP"])
    pooled = pooled_map(np.concatenate([t for t, _ in per_video.values()]),
                        np.concatenate([s for _, s in per_video.values()]))["mAP"]
    assert m["mAP"] != pytest.approx(pooled)                 # the two averagings differ here: the tag says which
    assert "ivtmetrics video-wise AP" in m["protocol"]
    md = open(write_field_tables(tmp_path / "out", "tiny", results, absent)["markdown"]).read()
    assert f"| {m['mAP']:.2f} |" in md and "cholect50: zero-shot multi-label: ivtmetrics video-wise AP" in md
