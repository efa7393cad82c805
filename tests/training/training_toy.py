"""A tiny in-memory world for trainer tests: a real WordPiece tokenizer, uint8 clips, a simple objective.

Run as a script, it trains (one process, or one of several under torchrun):
    python tests/training/training_toy.py WORK_DIR --tokenizer DIR [--resume] [--pure] [--slow SECONDS]
        [--levels clip,keystep,video] [--record DIR] [--first-gradients FILE] [key=value overrides]

--record DIR: every sample served is appended as "level pass index" to DIR/<pid>.txt.
--first-gradients FILE: rank 0 saves the gradients of the first optimizer step (after DDP's averaging)
to FILE, {parameter name: tensor}.
"""
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from surgvlp_fast.training.config import load_config  # noqa: E402
from surgvlp_fast.losses.objectives import ClipEmbeddings, LevelEmbeddings  # noqa: E402

WORDS = ["grasper", "hook", "clipper", "scissors", "gallbladder", "cystic", "duct", "artery", "liver", "bag",
         "dissect", "retract", "clip", "cut", "irrigate", "coagulate", "trocar", "insert", "pack", "remove"]
K = {"clip": 2, "keystep": 3, "video": 4}


def make_tokenizer(folder: str) -> str:
    """A real WordPiece tokenizer trained with the `tokenizers` library, saved for AutoTokenizer."""
    if os.path.exists(os.path.join(folder, "tokenizer.json")):
        return folder
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))],
                            trainers.WordPieceTrainer(vocab_size=120, special_tokens=special))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    os.makedirs(folder, exist_ok=True)
    fast.save_pretrained(folder)
    return folder


class ToyLevelDataset(torch.utils.data.Dataset):
    """Deterministic per index, plus one draw from the global torch RNG (as real datasets do)."""

    def __init__(self, level: str, size: int, frames: int = 2, side: int = 32, corrupt=(), slow: float = 0.0,
                 global_rng: bool = True, record: str | None = None):
        self.level, self.size, self.frames, self.side = level, size, frames, side
        self.corrupt, self.slow, self.global_rng, self.record = set(corrupt), slow, global_rng, record
        self.epoch = 0

    def __len__(self):
        return self.size

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __getitem__(self, index):
        if self.record:
            with open(os.path.join(self.record, f"{os.getpid()}.txt"), "a") as f:
                f.write(f"{self.level} {self.epoch} {index}\n")
        if self.slow:
            time.sleep(self.slow)
        if index in self.corrupt:
            raise ToyCorrupt(f"video_{index}.mp4 cannot be decoded")
        g = torch.Generator().manual_seed(index)
        video = torch.randint(0, 256, (self.frames, 3, self.side, self.side), generator=g, dtype=torch.uint8)
        if self.global_rng:   # a draw from the global RNG, restored on resume (per rank: not in DDP tests)
            video = torch.roll(video, int(torch.randint(0, 4, ()).item()), dims=-1)
        word = lambda j: WORDS[(index * 3 + j) % len(WORDS)]   # noqa: E731
        sample = {"video": video}
        if self.level == "clip":
            sample["sents_0"] = [f"{word(0)} {word(1)}"]
            sample["sents_1"] = [f"{word(1)} {word(2)}", f"{word(0)} {word(3)}"]
        else:
            sample["sents_summarize"] = [f"{word(0)} {word(1)} {word(2)}"]
            sample["sents_0"] = [f"{word(j)} {word(j + 1)}" for j in range(K[self.level])]
            if self.level == "video":
                n = 2 + index % 3
                sample["pos_step"] = list(range(n)) + [-1] * (K["video"] - n)
        return sample


class ToyCorrupt(RuntimeError):
    pass


class Collate:
    def __init__(self, tokenizer, max_length: int = 12):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, samples):
        batch = {"video": torch.stack([s["video"] for s in samples])}
        for key in ("sents_0", "sents_1", "sents_summarize"):
            if key in samples[0]:
                groups = [s[key] for s in samples]
                flat = [t for g in groups for t in g]
                enc = self.tokenizer(flat, padding="max_length", truncation=True, max_length=self.max_length,
                                     return_tensors="pt", return_token_type_ids=True)
                batch[key] = {k: enc[k].view(len(groups), len(groups[0]), -1)
                              for k in ("input_ids", "attention_mask", "token_type_ids")}
        if "pos_step" in samples[0]:
            batch["pos_step"] = torch.tensor([s["pos_step"] for s in samples])
        return batch


def make_views(video, n_aug=2, generator=None):
    """Normalised original plus `n_aug` noisy views drawn from `generator` (its state is resumed)."""
    x = video.float() / 127.5 - 1
    views = [x]
    for _ in range(n_aug):
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        views.append(x + 0.1 * noise)
    return tuple(views)


def _align(a, b):
    return (1 - torch.nn.functional.cosine_similarity(a, b, dim=-1)).mean()


class ToyObjective:
    """Per-sample terms only (no cross-sample negatives), so the mean over ranks is the global mean."""

    def clip(self, e: ClipEmbeddings):
        terms = {f"view{i}": _align(v, e.anchor_text) for i, v in enumerate(e.views)}
        terms["mil"] = _align(e.views[0].unsqueeze(1).expand_as(e.candidate_texts), e.candidate_texts)
        return sum(terms.values()) / len(terms), terms

    def keystep(self, e: LevelEmbeddings):
        terms = {"parent": _align(e.frames.mean(1), e.parent), "children": _align(e.children.mean(1), e.parent)}
        return sum(terms.values()) / 2, terms

    video = keystep


def tiny_overrides(tokenizer_dir: str, levels=("clip",)) -> list[str]:
    out = [f"model.text.tokenizer={tokenizer_dir}", "model.vision.backbone=tiny_cnn", "model.vision.norm=group",
           "model.embed_dim=32", "model.text.hidden_size=32", "model.text.num_layers=2", "model.text.num_heads=2",
           "model.text.intermediate_size=64", "model.text.max_positions=32", "model.text.dropout=0.0",
           "model.text.last_n_layers=2", "data.num_workers=0", "device=cpu", "optim.lr=1e-3",
           "train.epochs=2", "train.progress_bar=false", "train.tensorboard=false", "validation.every_epochs=0",
           "eval.every_epochs=0", "data.clip.batch_size=4"]
    for level in ("keystep", "video"):
        out.append(f"data.{level}.split={'toy' if level in levels else ''}")
    return out


def toy_data(tokenizer, levels=("clip",), sizes=None, corrupt=(), slow=0.0, val=False, global_rng=True, record=None):
    from surgvlp_fast.pretrain.build import TrainingData

    sizes = sizes or {"clip": 10, "keystep": 6, "video": 5}
    collate = Collate(tokenizer)
    return TrainingData(train={lv: ToyLevelDataset(lv, sizes[lv], corrupt=corrupt if lv == "clip" else (), slow=slow,
                                                   global_rng=global_rng, record=record) for lv in levels},
                        collate={lv: collate for lv in (*levels, "val")}, make_views=make_views,
                        val=ToyLevelDataset("clip", 6) if val else None, corrupt_errors=(ToyCorrupt,),
                        tokenizer=tokenizer)


def gloo_threads(patience: float = 5.0) -> int:
    """This process's gloo threads, once none is left or after `patience` seconds (an ending
    thread may linger in /proc for a moment after it is joined)."""
    deadline = time.monotonic() + patience
    while True:
        names = []
        for task in os.listdir("/proc/self/task"):
            try:
                names.append(open(f"/proc/self/task/{task}/comm").read())
            except FileNotFoundError:   # ended meanwhile
                pass
        count = sum("gloo" in name for name in names)
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def main(argv):
    from surgvlp_fast.models import load_tokenizer
    from surgvlp_fast.training.trainer import Trainer

    work_dir, rest = argv[0], argv[1:]
    resume = "--resume" in rest
    slow = float(rest[rest.index("--slow") + 1]) if "--slow" in rest else 0.0
    levels = rest[rest.index("--levels") + 1].split(",") if "--levels" in rest else ["clip"]
    pure = "--pure" in rest   # no per-rank randomness in the data: 1 and 2 processes see the same samples
    sizes = {"clip": 8, "keystep": 6, "video": 4}
    record = rest[rest.index("--record") + 1] if "--record" in rest else None
    first_gradients = rest[rest.index("--first-gradients") + 1] if "--first-gradients" in rest else None
    with_value = {"--slow", "--levels", "--tokenizer", "--record", "--first-gradients"}
    overrides = [a for i, a in enumerate(rest) if a not in (*with_value, "--resume", "--pure")
                 and (i == 0 or rest[i - 1] not in with_value)]
    tok_dir = rest[rest.index("--tokenizer") + 1]   # made once beforehand: WordPiece training is not deterministic
    cfg = load_config(None, tiny_overrides(tok_dir, levels) + overrides)
    tokenizer = load_tokenizer(tok_dir)
    trainer = Trainer(cfg, work_dir, toy_data(tokenizer, levels, sizes, slow=slow, global_rng=not pure, record=record),
                      objective=ToyObjective(), resume=resume)
    seen = []

    def keep_first_gradients(*_):
        if not seen:
            seen.append({n.removeprefix("module."): p.grad.clone() for n, p in trainer.model.named_parameters()
                         if p.grad is not None})

    if first_gradients:
        trainer.optimizer.register_step_pre_hook(keep_first_gradients)
    with trainer:
        print(trainer.train())
    if first_gradients and trainer.env.is_main:
        torch.save(seen[0], first_gradients)
    if trainer.env.distributed:   # what the trainer's close left of the process group it started
        import torch.distributed as dist

        print(f"process group open: {dist.is_initialized()}, gloo threads left: {gloo_threads()}")


if __name__ == "__main__":
    main(sys.argv[1:])
