"""DataLoader workers of a level stream end with the process that started them, even on SIGKILL
(parent-death signal armed in the worker_init_fn): without it a worker busy in a sample outlives it."""
import os
import signal
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import os, sys, time
    import torch
    from surgvlp_fast.pretrain.stream import LevelStream

    class Slow(torch.utils.data.Dataset):
        def __len__(self):
            return 8
        def __getitem__(self, i):
            open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
            time.sleep(120)          # busy in a sample: the worker's own parent check never runs
            return torch.zeros(1)

    stream = LevelStream("clip", Slow(), 1, torch.stack, seed=0, num_workers=2)
    stream.next()
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:   # a zombie waiting for init to reap it counts as gone
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_die_with_a_killed_parent(tmp_path):
    main = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1"))
    deadline = time.time() + 60
    while len(os.listdir(tmp_path)) < 2:
        assert time.time() < deadline and main.poll() is None, "the workers did not start"
        time.sleep(0.05)
    workers = [int(name) for name in os.listdir(tmp_path)]
    assert all(alive(pid) for pid in workers)
    main.send_signal(signal.SIGKILL)
    main.wait()
    deadline = time.time() + 3
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"
