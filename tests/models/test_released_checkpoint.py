"""Loading the released SurgVLP / HecVL / PeskaVLP layout (reference.md §1.2) from a synthetic file."""
import pytest
import torch
import torchvision
from transformers import BertConfig, BertModel

from surgvlp_fast.models import DualEncoder, TextEncoder, VisionEncoder, build_bert, load_released

BERT_SIZES = dict(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=40)


def released_state_dict(seed=0) -> dict:
    """Exactly the released layout: ResNet-50 without fc, Linear(2048, d), a BertModel with pooler and position_ids."""
    torch.manual_seed(seed)
    resnet = torchvision.models.resnet50(weights=None)
    resnet.fc = torch.nn.Identity()
    bert = BertModel(BertConfig(**BERT_SIZES), add_pooling_layer=True)
    state = {f"backbone_img.model.{k}": v for k, v in resnet.state_dict().items()}
    state["backbone_img.global_embedder.weight"] = torch.randn(16, 2048)
    state["backbone_img.global_embedder.bias"] = torch.randn(16)
    state.update({f"backbone_text.model.{k}": v for k, v in bert.state_dict().items()})
    # transformers 4.30.2 saved position_ids as a persistent buffer
    state["backbone_text.model.embeddings.position_ids"] = torch.arange(40).unsqueeze(0)
    return state


def our_model() -> DualEncoder:
    bert = build_bert(vocab_size=60, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                      max_positions=40)
    return DualEncoder(VisionEncoder("resnet50", 16, weights="random"), TextEncoder(bert, 2, 16))


@pytest.fixture(scope="module")
def released_file(tmp_path_factory):
    state = released_state_dict()
    assert any(k.startswith("backbone_text.model.pooler.") for k in state)
    path = tmp_path_factory.mktemp("released") / "PeskaVLP.pth"
    torch.save(state, path)
    return path, state


def test_released_layout_loads_every_tensor(released_file):
    path, state = released_file
    model = our_model()
    report = load_released(model, str(path))
    assert report.ok, str(report)
    assert sorted(report.dropped) == sorted(k for k in state if ".pooler." in k or k.endswith("position_ids"))
    own = model.state_dict()
    for key, value in own.items():
        assert torch.equal(value, state[key]), key
    assert report.loaded == len(own)


def test_training_checkpoint_with_ddp_prefix_loads(released_file, tmp_path):
    _, state = released_file
    path = tmp_path / "epoch0001.pth.tar"
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    assert load_released(our_model(), str(path)).ok


def test_unmatched_keys_are_reported(released_file, tmp_path):
    _, state = released_file
    broken = dict(state)
    del broken["backbone_img.global_embedder.bias"]
    broken["backbone_text.model.extra.weight"] = torch.zeros(1)
    broken["backbone_img.global_embedder.weight"] = torch.zeros(8, 2048)
    path = tmp_path / "broken.pth"
    torch.save(broken, path)
    with pytest.raises(ValueError) as err:
        load_released(our_model(), str(path))
    message = str(err.value)
    assert "missing: backbone_img.global_embedder.bias" in message
    assert "unexpected: backbone_text.model.extra.weight" in message
    assert "backbone_img.global_embedder.weight (8, 2048) vs model (16, 2048)" in message
    report = load_released(our_model(), str(path), strict=False)
    assert not report.ok and report.loaded > 0


def test_not_a_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(ValueError, match="not a state dict"):
        load_released(our_model(), str(path))
