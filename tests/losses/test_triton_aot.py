"""Every Triton kernel variant the dispatcher can launch compiles ahead of time for sm_90a and
sm_80 (`triton.compile` with a GPUTarget, no GPU needed) without register spills (`ptxas -v`)."""
import os
import subprocess
import sys

import pytest

triton = pytest.importorskip("triton")

from surgvlp_fast.losses import triton_aot  # noqa: E402


def test_ptxas_output_is_parsed():
    text = ("ptxas info    : Function properties for _forward_kernel\n"
            "    16 bytes stack frame, 12 bytes spill stores, 8 bytes spill loads\n"
            "ptxas info    : Used 255 registers, used 1 barriers\n")
    assert triton_aot.parse_ptxas(text) == {"registers": 255, "spill_stores": 12, "spill_loads": 8, "stack": 16}
    rows = [{"kernel": "k", "arch": "sm_90a", "num_warps": 4, "error": "", "shared": 0,
             **triton_aot.parse_ptxas(text)}]
    assert triton_aot.problems(rows) == ["k [sm_90a]: spills 12 / 8 bytes (stores / loads) at 255 registers"]
    with pytest.raises(ValueError, match="registers"):
        triton_aot.parse_ptxas("nothing")


@pytest.mark.skipif(triton_aot.ptxas_path() is None, reason="no ptxas (Triton's bundled one or the CUDA toolkit's)")
def test_every_variant_compiles_for_sm90a_and_sm80_without_spills():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-m", "surgvlp_fast.cli", "doctor", "--kernels"], env=env,
                          capture_output=True, text=True, timeout=600)
    lines = done.stdout.strip().splitlines()
    n = 2 * len(triton_aot.variants())
    assert lines and lines[-1] == f"{n} variants, 0 with a compile error or register spills", done.stdout + done.stderr
    assert done.returncode == 0
    assert sum(" sm_90a " in line for line in lines) == sum(" sm_80 " in line for line in lines) == n // 2
