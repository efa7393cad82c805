"""`surgvlp-fast demo` end to end at toy scale: a tiny world, a few training steps, the report."""
import json
import re

from surgvlp_fast.cli import main
from surgvlp_fast.training.config import load_config


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--preset", "tiny", "--budget-minutes", "2", "--max-steps", "3",
                 "--workers", "1", "--threads", "1", "data.num_workers=0", "train.progress_bar=false"])
    assert code == 0
    printed = capsys.readouterr().out
    for stage in ("generating the synthetic world", "untrained (random init)", "calibration", "pretrained",
                  "5 s smoothing", "chance (7 phases)", "done in"):
        assert stage in printed, stage
    results = json.loads((out / "results.json").read_text())
    demo, trained = results["demo"], results["results"]["zero_shot"]
    assert trained["frames"] == demo["untrained"]["frames"] == 25 + 28  # the tiny world's two test videos
    assert 0 <= trained["accuracy"] <= 100 and demo["smoothed_5s"]["smooth_window"] == 5
    assert (out / "run" / "config.yaml").exists()  # trained through the project's trainer
    epochs = int(re.search(r"training (\d+) epochs", printed).group(1))
    assert load_config(str(out / "run" / "config.yaml")).train.epochs == epochs  # the config that ran
    metrics = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if m["kind"] == "train"][-1] == 3  # the cap
    for picture in ("zero_shot_ribbons.png", "zero_shot_confusion.png"):
        assert (out / picture).stat().st_size > 10_000


def test_demo_checks_its_options_before_generating_the_world(tmp_path, capsys):
    out = tmp_path / "demo"
    for argv, message in [(["objective.dtw_beta=0.1"], "unknown key 'objective.dtw_beta'"),
                          (["data.clip.augment.consistant=true"], "did you mean 'consistent'"),
                          (["--preset", "huge"], "--preset 'huge'"),
                          (["--budget-minutes", "0"], "--budget-minutes must be > 0")]:
        assert main(["demo", "--out", str(out), *argv]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (out / "world").exists()


def test_epochs_that_fit_the_time_left():
    from surgvlp_fast.demo import epochs_that_fit

    def steps_for(epochs):   # 14 steps an epoch
        return 14 * epochs

    assert epochs_that_fit(2, 28, per_step=1.0, left=140, steps_for=steps_for) == 12   # 10 more epochs of 14 s
    assert epochs_that_fit(2, 28, per_step=1.0, left=139, steps_for=steps_for) == 11
    assert epochs_that_fit(5, 70, per_step=2.0, left=10, steps_for=steps_for) == 5     # none more: stop where it is
    assert epochs_that_fit(2, 28, per_step=1.0, left=1e9, steps_for=steps_for, max_steps=50) == 3
