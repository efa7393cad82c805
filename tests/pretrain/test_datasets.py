import os
import shutil
import time

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from surgvlp_fast.pretrain.collate import TextCollator
from surgvlp_fast.errors import CorruptVideoError
from surgvlp_fast.pretrain.datasets import (ClipLevelDataset, KeystepLevelDataset, VideoLevelDataset,
                                              expand_min_time, subsample_steps, worker_init)
from surgvlp_fast.pretrain.stream import LevelStream, PassBatchSampler
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.prep.extract_frames import extract_frames

S = 32


def at(dataset, index, epoch=0):
    """Sample `index` of `epoch`."""
    dataset.set_epoch(epoch)
    return dataset[index]


def test_shapes_of_the_three_levels(tiny_world):
    root, _ = tiny_world
    tok = load_tokenizer(str(root / "tokenizer"))
    cases = [
        (ClipLevelDataset(str(root), size=S), 4, {"sents_0": (1, 77), "sents_1": (2, 77)}),
        (KeystepLevelDataset(str(root), size=S), 16, {"sents_summarize": (1, 200), "sents_0": (3, 200)}),
        (VideoLevelDataset(str(root), size=S), 64, {"sents_summarize": (1, 200), "sents_0": (8, 200)}),
    ]
    for dataset, frames, texts in cases:
        max_length = 77 if frames == 4 else 200
        batch = TextCollator(tok, max_length)([at(dataset, 0, 0), at(dataset, 1, 0)])
        assert batch["video"].shape == (2, frames, 3, S, S) and batch["video"].dtype == torch.uint8
        for key, (k, length) in texts.items():
            for field in ("input_ids", "attention_mask", "token_type_ids"):
                assert batch[key][field].shape == (2, k, length), (key, field)
        if frames > 4:
            assert batch["pos_step"].dtype == torch.long and batch["pos_step"].shape == (2, texts["sents_0"][0])
    video = VideoLevelDataset(str(root), size=S)[0]
    assert video["pos_step"].tolist() == [0, 1, 2, 3, 4, 5, 6, -1]  # 7 keysteps padded to 8
    assert video["sents_0"][7] == video["sents_0"][6]


def test_deterministic_per_index_and_varies_with_epoch(tiny_world):
    root, _ = tiny_world
    ds = ClipLevelDataset(str(root), size=S)
    a, b, c = at(ds, 1), at(ds, 1), at(ds, 1, epoch=1)
    assert torch.equal(a["video"], b["video"]) and a["sents_0"] == b["sents_0"]
    assert not torch.equal(a["video"], c["video"]) or a["sents_0"] != c["sents_0"]


def test_stream_workers_and_resume_give_the_same_batches(tiny_world):
    root, _ = tiny_world
    tok = load_tokenizer(str(root / "tokenizer"))
    ds = KeystepLevelDataset(str(root), size=S)
    collate = TextCollator(tok, 64, padding="max_length")

    def stream(workers):
        return LevelStream("keystep", ds, 2, collate, seed=7, num_workers=workers, worker_init=worker_init)

    one = stream(0)
    full = [one.next() for _ in range(5)]          # 2 batches per pass of 5 lectures (2 and 2 + 1), then the next
    assert len(ds) == 5 and len(one) == 2 and [len(b["sents_summarize"]["input_ids"]) for b in full[:2]] == [2, 3]
    with_workers = stream(2)
    for x in full:
        y = with_workers.next()
        assert torch.equal(x["video"], y["video"]) and torch.equal(x["sents_0"]["input_ids"], y["sents_0"]["input_ids"])
    first = stream(0)
    first.next(), first.next()
    resumed = stream(0)
    resumed.load_state_dict(first.state_dict())
    for want in full[2:]:
        assert torch.equal(resumed.next()["video"], want["video"])


def test_pass_batches_shard_over_ranks():
    ranks = [PassBatchSampler(5, 2, seed=1, rank=r, world_size=2) for r in range(2)]
    seen = [i for s in ranks for batch in s for i in batch]
    assert len(ranks[0]) == len(ranks[1]) == 2 and sorted(set(seen)) == [0, 1, 2, 3, 4] and len(seen) == 6


def test_every_rank_gets_batches_of_the_same_size():
    """The trainer passes the row counts to the objective from this (no exchange in a step)."""
    for size in (1, 5, 9, 17, 32):
        for batch_size in (1, 3, 4):
            for world in (2, 3, 4):
                for offset in (0, 2):
                    ranks = [PassBatchSampler(size, batch_size, seed=3, rank=r, world_size=world) for r in range(world)]
                    for s in ranks:
                        s.offset = min(offset, size - 1)
                    lengths = [[len(b) for b in s] for s in ranks]
                    assert all(lens == lengths[0] for lens in lengths), (size, batch_size, world, offset, lengths)


def test_a_last_batch_of_one_joins_the_batch_before():
    one = PassBatchSampler(9, 4, seed=0)
    assert [len(b) for b in one] == [4, 5] and sorted(i for b in one for i in b) == list(range(9))
    assert one.position(1) == 4 and one.position(2) == 9
    assert [len(b) for b in PassBatchSampler(4, 4, seed=0)] == [4]
    assert [len(b) for b in PassBatchSampler(1, 4, seed=0)] == [1]       # refused by the config check
    two = [PassBatchSampler(9, 4, seed=0, rank=r, world_size=2) for r in range(2)]
    assert [[len(b) for b in s] for s in two] == [[4, 1], [4, 1]]       # a global last batch of two


def _mini_world(tiny_world, tmp_path):
    """A one-lecture folder with readable timings: texts say when they are."""
    root, info = tiny_world
    lecture = info["lectures"][0]
    vid, duration = lecture["video_id"], lecture["duration"]
    dst = tmp_path / "mini"
    for folder in ("videos", "aws_narration_texts", "whisper_narration_texts", "keystep_texts", "abstract_texts", "splits"):
        (dst / folder).mkdir(parents=True)
    shutil.copy(root / "videos" / f"{vid}.mp4", dst / "videos")
    aws = "".join(f"{t},{t + 1.5},aws{t:02d}\n" for t in range(1, int(duration) - 2, 4))
    whisper = "".join(f"{t},{t + 2},wh{t:02d}\n" for t in range(0, int(duration) - 2, 2))
    (dst / "aws_narration_texts" / f"{vid}.csv").write_text("start,end,text\n" + aws)
    (dst / "whisper_narration_texts" / f"{vid}.csv").write_text("start,end,text\n" + whisper)
    steps = "".join(f"{k * 2},{k * 2 + 2},S{k},T{k}\n" for k in range(10))
    (dst / "keystep_texts" / f"{vid}.csv").write_text("start,end,step,text\n0.5,%s,Whole,Everything\n" % (duration - 1))
    (dst / "abstract_texts" / f"{vid}.csv").write_text(f"start,end,text\n0,{duration},abstract\n")
    for split in ("train_narration", "train_keystep", "train_abstract"):
        (dst / "splits" / f"{split}.csv").write_text(f"video_path\n{vid}.mp4\n")
    return dst, vid, duration, steps


def test_quirk_options(tiny_world, tmp_path):
    dst, vid, duration, steps = _mini_world(tiny_world, tmp_path)
    clip = ClipLevelDataset(str(dst), size=S, num_candidates=3)
    ref = ClipLevelDataset(str(dst), size=S, num_candidates=3, candidate_window="sentence", truncate_times=True,
                           overlap_query="reference", frame_pick="reference")
    for key in range(20):
        fixed, quirky = at(clip, 0, key), at(ref, 0, key)
        a = int(fixed["sents_0"][0][3:])
        times = [int(c[2:]) for c in fixed["sents_1"] if c.startswith("wh")]
        assert times == sorted(times) and len(set(times)) == len(times)  # unique rows, temporal order
        # candidates overlap the 3-5 s sub-clip, which lies within the expanded sentence window +- 5 s
        assert all(a - 5 <= t <= a + 6 for t in times)
        assert quirky["video"].shape == fixed["video"].shape == (4, 3, S, S)
    # keystep children: temporal order by default, the reference's random.sample scrambles it
    ks = KeystepLevelDataset(str(dst), size=S, num_children=4)
    ks_ref = KeystepLevelDataset(str(dst), size=S, num_children=4, child_order="random", keystep_window="children")
    in_order = [at(ks, 0, e)["sents_0"] for e in range(15)]
    assert all([int(c[-2:]) for c in ch] == sorted(int(c[-2:]) for c in ch) for ch in in_order)
    scrambled = [at(ks_ref, 0, e)["sents_0"] for e in range(15)]
    assert any([int(c[-2:]) for c in ch] != sorted(int(c[-2:]) for c in ch) for ch in scrambled)
    steps_text = KeystepLevelDataset(str(dst), size=S, keystep_text="step")[0]
    assert steps_text["sents_summarize"] == ["Whole"]
    # video level: the strided subsample drops the tail, "even" keeps the last keystep
    assert subsample_steps(10, 8, "stride") == ([0, 1, 2, 3, 4, 5, 6, 7], list(range(8)))
    even, pos = subsample_steps(10, 8, "even")
    assert even[0] == 0 and even[-1] == 9 and pos == list(range(8)) and even == sorted(even)
    assert subsample_steps(3, 5, "even") == ([0, 1, 2, 2, 2], [0, 1, 2, -1, -1])
    assert expand_min_time(1.0, 2.0, 4.0) == (0.0, 4.0) and expand_min_time(5.0, 6.0, 4.0) == (3.5, 7.5)


def test_video_backends_and_frames_cache(tiny_world, tmp_path):
    root, info = tiny_world
    pyav = ClipLevelDataset(str(root), size=S, video_backend="pyav")[2]
    codec = ClipLevelDataset(str(root), size=S, video_backend="torchcodec")[2]
    assert torch.equal(pyav["video"], codec["video"])
    cache = tmp_path / "cache"
    for lecture in info["lectures"]:
        vid = lecture["video_id"]
        extract_frames(str(root / "videos" / f"{vid}.mp4"), str(cache / vid), name=vid)
    from_frames = VideoLevelDataset(str(root), size=S, video_root=str(cache))[0]
    assert from_frames["video"].shape == (64, 3, S, S)


def test_corrupt_video_raises_and_the_stream_substitutes(tiny_world, tmp_path):
    root, _ = tiny_world
    dst = tmp_path / "w"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("downstream_datasets", "*.npz"))
    (dst / "videos" / "vd0001syn.mp4").write_bytes(b"\x00" * 1000)
    ds = ClipLevelDataset(str(dst), size=S)
    with pytest.raises(CorruptVideoError, match="vd0001syn.mp4"):
        at(ds, 0, 0)
    loader = DataLoader(ds, batch_size=1, num_workers=1, sampler=[0])
    with pytest.raises(CorruptVideoError):
        next(iter(loader))
    # the stream substitutes the corrupt sample, counts and reports it
    stream = LevelStream("clip", ds, 1, lambda samples: samples[0], seed=0, shuffle=False,
                         corrupt_errors=(CorruptVideoError,))
    sub = stream.next()
    skipped = stream.pop_skipped()
    assert len(skipped) == 1 and "vd0001syn.mp4" in skipped[0] and sub["video"].shape == (4, 3, S, S)
    os.remove(dst / "videos" / "vd0002syn.mp4")
    with pytest.raises(Exception, match="vd0002syn.mp4.*not found"):
        at(ds, 1, 0)
    assert np.isfinite(sub["video"].float().mean().item())


def test_knowledge_augmented_text_options(tiny_world, tmp_path):
    """augment-texts' columns: `original` beside the abstract's key concepts, `pseudo_step` beside each
    narration; `abstract_text` / `narration_text` pick the text, the column or either at random."""
    from surgvlp_fast.errors import DataFormatError

    dst, vid, duration, _ = _mini_world(tiny_world, tmp_path)
    with pytest.raises(DataFormatError, match="no 'original' column, needed by abstract_text=random"):
        VideoLevelDataset(str(dst), size=S, num_frames=4, abstract_text="random")
    with pytest.raises(ValueError, match="narration_text must be one of"):
        ClipLevelDataset(str(dst), size=S, narration_text="step")
    (dst / "abstract_texts" / f"{vid}.csv").write_text(f"start,end,text,original\n0,{duration},concepts,abstract\n")
    aws = dst / "aws_narration_texts" / f"{vid}.csv"
    rows = aws.read_text().splitlines()
    aws.write_text("\n".join([rows[0] + ",pseudo_step", *(r + ",cut the duct" for r in rows[1:])]) + "\n")
    parents = {choice: {at(VideoLevelDataset(str(dst), size=S, num_frames=4, abstract_text=choice), 0, e)
                        ["sents_summarize"][0] for e in range(12)} for choice in ("text", "original", "random")}
    assert parents == {"text": {"concepts"}, "original": {"abstract"}, "random": {"concepts", "abstract"}}
    anchors = {choice: {at(ClipLevelDataset(str(dst), size=S, narration_text=choice), 0, e)["sents_0"][0][:3]
                        for e in range(12)} for choice in ("text", "pseudo_step", "random")}
    assert anchors == {"text": {"aws"}, "pseudo_step": {"cut"}, "random": {"aws", "cut"}}


class _WorkerPids(torch.utils.data.Dataset):
    """Each sample: the pid of the process that made it, and the epoch it was made in."""

    def __init__(self):
        self.epoch = 0

    def __len__(self):
        return 3

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, i):
        return torch.tensor([os.getpid(), self.epoch])


def test_stream_workers_persist_across_passes_and_follow_the_pass():
    stream = LevelStream("clip", _WorkerPids(), 3, torch.stack, seed=0, num_workers=1)
    batches = [stream.next() for _ in range(4)]    # one batch per pass: four passes
    assert len({int(b[0, 0]) for b in batches}) == 1 and int(batches[0][0, 0]) != os.getpid()
    assert [sorted(set(b[:, 1].tolist())) for b in batches] == [[0], [1], [2], [3]]


class _LoggedSamples(_WorkerPids):
    """Each sample made appends "epoch index" to a file, so the test sees what the workers made."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def __getitem__(self, i):
        with open(self.log, "a") as f:
            f.write(f"{self.epoch} {i}\n")
        return super().__getitem__(i)


def test_the_next_pass_is_decoded_while_the_last_batch_of_a_pass_trains(tmp_path):
    log = tmp_path / "made.txt"
    stream = LevelStream("clip", _LoggedSamples(str(log)), 2, torch.stack, seed=0, num_workers=1)
    first = [stream.next() for _ in range(len(stream))]            # the whole of pass 0: one batch of 3
    assert [sorted(set(b[:, 1].tolist())) for b in first] == [[0]]

    def passes_made():
        return {int(line.split()[0]) for line in log.read_text().splitlines()}

    deadline = time.monotonic() + 20
    while 1 not in passes_made() and time.monotonic() < deadline:   # no next(): pass 1 must come on its own
        time.sleep(0.05)
    assert passes_made() == {0, 1}, log.read_text()
    assert stream.state_dict()["epoch"] == 1 and stream.state_dict()["consumed"] == 0
    assert sorted(set(stream.next()[:, 1].tolist())) == [1]
