"""allocator.keep_freed_memory: a training step's activations reuse mapped pages once the loop has run a
few steps, instead of being faulted in again every step (minor page faults counted in fresh processes);
SURGVLP_FAST_MALLOC=system keeps glibc's default."""
import os
import subprocess
import sys

import pytest

STEPS = """
import resource, torch
from surgvlp_fast.allocator import keep_freed_memory
took = keep_freed_memory()
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, 2, 1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(inplace=True),
                          torch.nn.Conv2d(32, 64, 3, 2, 1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(inplace=True))
x = torch.randn(256, 3, 64, 64)              # activations of 32 MB and 16 MB
def faults_of_one_step():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    net.zero_grad(set_to_none=True)
    net(x).sum().backward()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(took, *[faults_of_one_step() for _ in range(8)])
"""


def faults(malloc: str):
    took, *counts = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True,
                                   env={**os.environ, "SURGVLP_FAST_MALLOC": malloc}).stdout.split()
    return took == "True", [int(c) for c in counts]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_steps_activations_reuse_mapped_pages():
    took, kept = faults("")
    assert took
    untouched, system = faults("system")
    assert not untouched
    # the last 4 steps: glibc's default maps, unmaps and faults the activations in again every step
    assert sum(system[-4:]) > 4 * 8192, system                          # > 32 MB of pages a step
    assert sum(kept[-4:]) < sum(system[-4:]) / 10, (kept, system)
