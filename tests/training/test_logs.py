"""training.logs.RunLog's progress bar: the loss it shows between log steps."""
from surgvlp_fast.training.logs import RunLog


def test_the_bar_shows_no_loss_before_the_first_log_step_and_the_last_logged_one_after(tmp_path, capsys):
    log = RunLog(str(tmp_path), enabled=True, tensorboard=False, progress_bar=True)
    log.start_bar(total=3, initial=0)
    log.update_bar(None, 12.5, "clip")                  # before any log step: no number to show, not "nan"
    assert log._bar.postfix == "clip loss - 12.5 samples/s"
    log.update_bar(0.123456, 10.0, "keystep")
    assert log._bar.postfix == "keystep loss 0.1235 10.0 samples/s"
    log.update_bar(float("nan"), 10.0, "video")         # a skipped non-finite step stays visible as nan
    assert log._bar.postfix == "video loss nan 10.0 samples/s"
    log.end_bar()
