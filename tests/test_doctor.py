"""`surgvlp-fast doctor` says what this process uses: the compiled core and its parts when it is built
and on, the reason when it is not (pure-PyTorch mode, run by tools/quickstart.sh, says so)."""
from surgvlp_fast._native import native_disabled, native_module
from surgvlp_fast.cli import main
from surgvlp_fast.doctor import report


def test_doctor_reports_the_compiled_core_as_this_process_sees_it(capsys):
    core = dict(report())["compiled core (_C)"]
    if native_disabled():
        assert core == "switched off (SURGVLP_FAST_DISABLE_NATIVE=1)"
    elif native_module() is None:
        assert core.startswith("not built")
    else:
        assert core.startswith("built (") and all(name in core for name in native_module().build_info["submodules"])
    assert main(["doctor"]) == 0
    assert "compiled core (_C)" in capsys.readouterr().out
