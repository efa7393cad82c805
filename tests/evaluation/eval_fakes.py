"""A real WordPiece tokenizer trained here, and tiny encoders that follow the model contract."""
import numpy as np
import torch
import torch.nn.functional as F
from surgvlp_fast.evaluation.downstream import DownstreamVideo
from surgvlp_fast.evaluation.features import TensorFrames as FrameTensorDataset

NUM_CLASSES = 5
PROMPTS = [f"in phase{c} the surgeon works" for c in range(NUM_CLASSES)]


def train_tokenizer(sentences):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(sentences, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


class OracleEncoder(torch.nn.Module):
    """Frames carry their class as pixel value c/10; prompts name it as the word `phase{c}`.
    encode_frames → one-hot of the class, encode_text → the masked mean of token vectors in which
    only `phase{c}` points at class c. A perfect zero-shot classifier, so metrics are known."""

    def __init__(self, tokenizer, dim=NUM_CLASSES):
        super().__init__()
        vocab = tokenizer.get_vocab()
        self.token_vectors = torch.nn.Embedding(len(vocab), dim)
        torch.nn.init.zeros_(self.token_vectors.weight)
        with torch.no_grad():
            for c in range(NUM_CLASSES):
                self.token_vectors.weight[vocab[f"phase{c}"], c] = 1.0
        self.bn = torch.nn.BatchNorm1d(1)  # so train/eval mode matters
        self.frame_calls = 0

    def encode_frames(self, frames):
        assert frames.ndim == 4 and frames.shape[1] == 3
        self.frame_calls += frames.shape[0]
        c = torch.round(frames.mean((1, 2, 3)) * 10).long()
        return F.one_hot(c, NUM_CLASSES).float() * 3.0

    def encode_text(self, tokens):
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        return (self.token_vectors(tokens["input_ids"]) * mask).sum(1) / mask.sum(1)


class LinearEncoder(torch.nn.Module):
    """A random but deterministic encoder: channel means and token embeddings projected to d."""

    def __init__(self, vocab_size, dim=8, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.frame_proj = torch.nn.Parameter(torch.randn(3, dim, generator=g))
        self.token_vectors = torch.nn.Parameter(torch.randn(vocab_size, dim, generator=g))

    def encode_frames(self, frames):
        return frames.mean((2, 3)) @ self.frame_proj + frames.std((2, 3)) @ self.frame_proj.flip(0)

    def encode_text(self, tokens):
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        return (self.token_vectors[tokens["input_ids"]] * mask).sum(1) / mask.sum(1)


def class_frames(classes, size=8, noise=0.0, seed=0):
    """(N, 3, size, size) frames whose mean pixel is class/10 (plus zero-mean noise)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.as_tensor(classes, dtype=torch.float32).view(-1, 1, 1, 1) / 10
    frames = base.expand(-1, 3, size, size).clone()
    if noise:
        n = torch.randn(frames.shape, generator=g) * noise
        frames += n - n.mean((1, 2, 3), keepdim=True)
    return frames


def make_videos(lengths, seed=0, noise=0.02, misread=0.0):
    """Videos of sorted random phases; a `misread` share of frames shows another random class."""
    rng = np.random.default_rng(seed)
    videos = []
    for i, n in enumerate(lengths):
        labels = np.sort(rng.integers(0, NUM_CLASSES, n))
        shown = np.where(rng.random(n) < misread, rng.integers(0, NUM_CLASSES, n), labels)
        videos.append(DownstreamVideo(f"video{i:02d}", FrameTensorDataset(class_frames(shown, noise=noise, seed=i)), labels))
    return videos
