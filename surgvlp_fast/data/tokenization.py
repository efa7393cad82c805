"""Tokenisation: any Hugging Face tokenizer loaded from a local path, and a small WordPiece trainer.

Nothing here downloads: `load_tokenizer` accepts only an existing local directory.
"""
import json
import os


def load_tokenizer(path: str):
    """AutoTokenizer from a local folder (e.g. Bio_ClinicalBERT's, MiniLM's, or one written by
    `train_wordpiece_tokenizer`)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"tokenizer folder not found: {path} (tokenizers are loaded from local paths only)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def tokenize_groups(tokenizer, groups: list[list[str]], max_length: int, padding: str = "max_length") -> dict:
    """B groups of K texts each -> {input_ids, attention_mask, token_type_ids}, each (B, K, L) long.

    padding="max_length" pads every text to `max_length` (the reference, whose text pooling divides by
    L); padding="longest" pads to the longest text of the batch (faster, same masked sums).
    """
    if not groups or any(len(g) != len(groups[0]) for g in groups):
        raise ValueError(f"every sample needs the same number of texts, got {[len(g) for g in groups]}")
    b, k = len(groups), len(groups[0])
    flat = [text for group in groups for text in group]
    enc = tokenizer(flat, padding=padding, truncation=True, max_length=max_length, return_tensors="pt",
                    return_token_type_ids=True, return_attention_mask=True)
    return {key: enc[key].reshape(b, k, -1).long() for key in ("input_ids", "attention_mask", "token_type_ids")}


def train_wordpiece_tokenizer(texts, out_dir: str, vocab_size: int = 1000, lowercase: bool = True) -> str:
    """Train a BERT-style WordPiece tokenizer on `texts` (offline, `tokenizers` library only) and save it
    to `out_dir` (tokenizer.json, vocab.txt, tokenizer_config.json), loadable with
    `AutoTokenizer.from_pretrained(out_dir)`. Returns `out_dir`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special, min_frequency=1)
    tok.train_from_iterator(list(texts), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    vocab = sorted(tok.get_vocab().items(), key=lambda item: item[1])
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token, _ in vocab))
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": lowercase, "model_max_length": 512,
              "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
              "mask_token": "[MASK]"}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)
    return out_dir
