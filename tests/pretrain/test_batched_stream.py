"""The stream fetches a batch through `SkipCorrupt.__getitems__` (one `dataset.samples(indices)` call,
the batch's clips decoded together): the same batches, skip messages and resume positions as one
sample at a time, with a corrupt lecture among them, in the main process and in workers."""
import gc
import os
import shutil

import pytest
import torch

from surgvlp_fast.config import ConfigError
from surgvlp_fast.errors import CorruptVideoError, DataFormatError
from surgvlp_fast.pretrain.datasets import (ClipLevelDataset, KeystepLevelDataset, VideoLevelDataset,
                                              worker_init)
from surgvlp_fast.pretrain.stream import SUBSTITUTE_STRIDE, LevelStream, SkipCorrupt

S = 24
CORRUPT = "vd0002syn.mp4"


class OneAtATime(torch.utils.data.Dataset):
    """A level dataset seen without `samples`: the stream fetches it one `dataset[i]` at a time."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def set_epoch(self, epoch):
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index):
        return self.dataset[index]


class Batched(OneAtATime):
    """The level dataset with `samples`; each call appends its batch size to `log` (workers included)."""

    def __init__(self, dataset, log):
        super().__init__(dataset)
        self.log = log

    def samples(self, indices):
        with open(self.log, "a") as f:
            f.write(f"{len(indices)}\n")
        return self.dataset.samples(indices)


def collate(samples):
    """Everything a sample holds, stacked or listed, so two batches compare exactly."""
    out = {"video": torch.stack([s["video"] for s in samples])}
    for key in samples[0]:
        if key != "video":
            out[key] = [s[key].tolist() if torch.is_tensor(s[key]) else s[key] for s in samples]
    return out


@pytest.fixture(scope="module")
def world_with_a_corrupt_lecture(tiny_world, tmp_path_factory):
    root, _ = tiny_world
    dst = tmp_path_factory.mktemp("corrupt") / "data"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("downstream_datasets", "*.npz"))
    (dst / "videos" / CORRUPT).write_bytes(b"\x00" * 1000)
    return dst


def run_stream(dataset, workers, batches, state=None):
    """(batches, skip messages per batch, state after each batch) of a stream of 2-sample batches."""
    stream = LevelStream("level", dataset, 2, collate, seed=5, num_workers=workers, worker_init=worker_init,
                         corrupt_errors=(CorruptVideoError,))
    if state is not None:
        stream.load_state_dict(state)
    gc.collect()   # earlier tests' readers freed here, not in a forked worker (where their decoder threads are gone)
    got, skipped, states = [], [], []
    for _ in range(batches):
        got.append(stream.next())
        skipped.append(stream.pop_skipped())
        states.append(stream.state_dict())
    return got, skipped, states


def assert_same_batches(got, want):
    assert len(got) == len(want)
    for b, (x, y) in enumerate(zip(got, want)):
        assert list(x) == list(y), b
        assert torch.equal(x["video"], y["video"]), f"batch {b}: the clips differ"
        for key in x:
            if key != "video":
                assert x[key] == y[key], (b, key)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("cls", [ClipLevelDataset, KeystepLevelDataset, VideoLevelDataset])
def test_batched_stream_equals_one_sample_at_a_time(world_with_a_corrupt_lecture, tmp_path, cls, workers):
    ds = cls(str(world_with_a_corrupt_lecture), size=S, decode_threads=2)
    batches = 2 * -(-len(ds) // 2) + 1                       # a whole pass and into the next (every lecture)
    log = tmp_path / "samples.log"
    want, want_skipped, want_states = run_stream(OneAtATime(ds), workers, batches)
    got, got_skipped, got_states = run_stream(Batched(ds, str(log)), workers, batches)
    assert_same_batches(got, want)
    assert got_skipped == want_skipped and got_states == want_states
    assert sum(len(s) for s in got_skipped) >= 2 and all(CORRUPT in m for s in got_skipped for m in s)
    sizes = [int(n) for n in log.read_text().split()]
    assert sum(sizes) >= batches * 2 - 1 and max(sizes) >= 2   # whole batches went through samples()


def test_a_batched_stream_resumes_where_it_stopped(world_with_a_corrupt_lecture, tmp_path):
    ds = KeystepLevelDataset(str(world_with_a_corrupt_lecture), size=S, decode_threads=2)
    full, full_skipped, full_states = run_stream(Batched(ds, str(tmp_path / "a.log")), 2, 6)
    _, _, states = run_stream(Batched(ds, str(tmp_path / "b.log")), 0, 2)
    rest, rest_skipped, rest_states = run_stream(Batched(ds, str(tmp_path / "c.log")), 2, 4, state=states[-1])
    assert states[-1] == full_states[1]
    assert_same_batches(rest, full[2:])
    assert rest_skipped == full_skipped[2:] and rest_states == full_states[2:]


class Toy(torch.utils.data.Dataset):
    """Sample i is (epoch, i); indices in `corrupt` fail (raise, or are a CorruptVideoError in
    `samples`); `broken` gives another error."""

    def __init__(self, n, corrupt=(), broken=()):
        self.n, self.corrupt, self.broken, self.epoch, self.calls = n, set(corrupt), set(broken), 0, []

    def __len__(self):
        return self.n

    def set_epoch(self, epoch):
        self.epoch = epoch

    def _make(self, i):
        if i in self.broken:
            return DataFormatError(f"f{i}.csv", "bad row")
        if i in self.corrupt:
            return CorruptVideoError(f"v{i}.mp4", "bad bytes")
        return (self.epoch, i)

    def __getitem__(self, i):
        item = self._make(i)
        if isinstance(item, BaseException):
            raise item
        return item

    def samples(self, indices):
        self.calls.append(list(indices))
        return [self._make(i) for i in indices]


def test_getitems_substitutes_as_getitem_does():
    n = 11
    chain = [(3 + k * SUBSTITUTE_STRIDE) % n for k in range(3)]          # 3 and its first two replacements
    toy = Toy(n, corrupt={chain[0], chain[1], 5})
    skip = SkipCorrupt(toy, (CorruptVideoError,), retries=4)
    keys = [(2, 3), (2, 0), (2, 5), (2, 3)]
    batch = skip.__getitems__(keys)
    assert toy.calls == [[3, 0, 5, 3]] and toy.epoch == 2
    assert batch == [skip[key] for key in keys]
    assert batch[0][0] == (2, chain[2]) and len(batch[0][1]) == 2 and f"v{chain[1]}.mp4" in batch[0][1][1]
    assert batch[1] == ((2, 0), [])
    # the epoch of a plain index is left alone; keys of two passes go one at a time
    assert skip.__getitems__([1]) == [((2, 1), [])]
    toy.calls.clear()
    assert [s for s, _ in skip.__getitems__([(3, 1), (4, 4)])] == [(3, 1), (4, 4)] and toy.calls == []


def test_getitems_gives_up_and_raises_as_getitem_does():
    toy = Toy(4, corrupt={0, 1, 2, 3}, broken=set())
    skip = SkipCorrupt(toy, (CorruptVideoError,), retries=0)
    with pytest.raises(RuntimeError, match="1 corrupt samples in a row.*v2.mp4") as batched:
        skip.__getitems__([2])
    with pytest.raises(RuntimeError) as single:
        skip[2]
    assert str(batched.value) == str(single.value)
    with pytest.raises(DataFormatError, match="f1.csv"):          # not a corrupt sample: not substituted
        SkipCorrupt(Toy(4, broken={1}), (CorruptVideoError,), retries=3).__getitems__([0, 1])
    with pytest.raises(CorruptVideoError, match="v1.mp4"):        # a stream that substitutes nothing
        SkipCorrupt(Toy(4, corrupt={1}), (), retries=3).__getitems__([0, 1])


def test_decode_threads_config(tiny_world):
    from surgvlp_fast.pretrain.build import build_training_data
    from surgvlp_fast.training.config import load_config

    root = tiny_world[0]
    configs = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
    base = [f"data.root={root}", f"model.text.tokenizer={root}/tokenizer"]
    cfg = load_config(os.path.join(configs, "demo.yaml"), base + ["data.decode_threads=3"])
    data = build_training_data(cfg.data, tokenizer=None, seed=cfg.seed)
    assert cfg.data.decode_threads == 3
    assert {lv: ds.decode_threads for lv, ds in data.train.items()} == {lv: 3 for lv in data.train}
    assert data.val is None or data.val.decode_threads == 3
    with pytest.raises(ConfigError, match="data.decode_threads must be an integer ≥ 1, got 0"):
        load_config(os.path.join(configs, "demo.yaml"), base + ["data.decode_threads=0"])
    with pytest.raises(ConfigError, match="unknown clip dataset option 'data.clip.options.decode_threads'"):
        load_config(os.path.join(configs, "demo.yaml"), base + ["data.clip.options.decode_threads=2"])

