"""`surgvlp_fast.load`, released `.zip` files, `surgvlp-fast eval --checkpoint X.zip` and
`surgvlp-fast export`, on a tiny model built locally (reference.md §1.2 layout)."""
import dataclasses
import json
import os
import zipfile

import pytest
import torch
import torchvision
from PIL import Image
from transformers import BertConfig, BertModel

import surgvlp_fast
from surgvlp_fast.hub import config_for, resolve_checkpoint
from surgvlp_fast.testing import assert_close, rounding_bound

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
OVERRIDES = ["model.vision.backbone=resnet18", "model.vision.weights=imagenet"]   # the ImageNet file is never read


@pytest.fixture(scope="module")
def released(world, tmp_path_factory):
    """A model in the released layout: `.pth` with pooler and position_ids, and the `.zip` holding it."""
    from surgvlp_fast.config import save_config
    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.export import official_state_dict
    from surgvlp_fast.models import build_model, load_tokenizer

    folder = tmp_path_factory.mktemp("released")
    cfg = load_config(CONFIG, [*OVERRIDES, f"model.text.tokenizer={world}/tokenizer"])
    save_config(cfg, str(folder / "model.yaml"))
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(cfg.model, vision=dataclasses.replace(cfg.model.vision, weights="random")),
                        load_tokenizer(f"{world}/tokenizer"))
    state = official_state_dict(model.state_dict())
    state["backbone_text.model.pooler.dense.weight"].normal_()
    torch.save(state, folder / "PeskaVLP.pth")
    with zipfile.ZipFile(folder / "PeskaVLP.zip", "w") as archive:
        archive.write(folder / "PeskaVLP.pth", "PeskaVLP.pth")
    return folder, model.eval(), state


def frame_file(folder, mode="RGB"):
    path = folder / f"frame_{mode}.png"
    g = torch.Generator().manual_seed(1)
    Image.fromarray(torch.randint(0, 256, (480, 854, 3), generator=g, dtype=torch.uint8).numpy()).convert(mode).save(path)
    return path


def test_load_zip_and_pth_give_the_same_model(released, world):
    folder, model, _ = released
    image = frame_file(folder)
    outputs = []
    for name in ("PeskaVLP.zip", "PeskaVLP.pth"):
        loaded, tokenizer, preprocess = surgvlp_fast.load(str(folder / name), config=str(folder / "model.yaml"))
        assert not loaded.training and isinstance(preprocess, surgvlp_fast.OfficialPreprocess)
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
        with torch.no_grad():
            outputs.append(loaded.encode_frames(preprocess(str(image)).unsqueeze(0)))
    assert torch.equal(*outputs)


def test_zip_that_is_not_a_release_is_a_clear_error(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.pth", b"x")
        archive.writestr("b.pth", b"y")
    from surgvlp_fast.models import read_state_dict

    with pytest.raises(ValueError, match="expected one .pth file"):
        read_state_dict(str(path))


def test_registry_names_config_and_local_lookup(tmp_path, monkeypatch):
    assert surgvlp_fast.available_models() == ["SurgVLP", "HecVL", "PeskaVLP"]
    for name, config in [("SurgVLP", "surgvlp.yaml"), ("HecVL", "hecvl.yaml"), ("PeskaVLP", "peskavlp.yaml")]:
        assert os.path.basename(config_for(str(tmp_path / f"{name}.zip"))) == config
        assert os.path.isfile(config_for(str(tmp_path / f"{name.lower()}.pth")))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        resolve_checkpoint("HecVL")
    cache = tmp_path / ".cache" / "surgvlp"
    cache.mkdir(parents=True)
    (cache / "HecVL.zip").write_bytes(b"")
    assert resolve_checkpoint("HecVL") == str(cache / "HecVL.zip")
    with pytest.raises(FileNotFoundError, match="released names"):
        resolve_checkpoint("NoSuchModel")


def test_init_checkpoint_does_not_read_imagenet(released, world, monkeypatch, tmp_path):
    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.models import build_model, load_tokenizer

    folder, model, _ = released
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))   # no ImageNet file there
    cfg = load_config(CONFIG, [*OVERRIDES, f"model.text.tokenizer={world}/tokenizer",
                               f"model.init_checkpoint={folder / 'PeskaVLP.zip'}"])
    built = build_model(cfg.model, load_tokenizer(f"{world}/tokenizer"))
    assert torch.equal(built.state_dict()["backbone_img.model.conv1.weight"],
                       model.state_dict()["backbone_img.model.conv1.weight"])


def test_eval_command_reads_a_released_zip(released, world, tmp_path, capsys):
    from surgvlp_fast.cli import main

    folder, _, _ = released
    out = tmp_path / "out"
    code = main(["eval", "--checkpoint", str(folder / "PeskaVLP.zip"), "--config", str(folder / "model.yaml"),
                 "--data-root", world, "--protocol", "cholec80", "--out", str(out), "--device", "cpu",
                 "-o", "resize=64x64", "-o", "crop=64", "-o", "cholec80.videos=49"])
    assert code == 0, capsys.readouterr().err
    assert "loaded" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["results"]["cholec80"]["frames"] == 25


class OfficialImage(torch.nn.Module):
    """Transcription of the official ImageEncoder: torchvision trunk without fc, then Linear."""

    def __init__(self, arch, dim):
        super().__init__()
        self.model = getattr(torchvision.models, arch)(weights=None)
        width = self.model.fc.in_features
        self.model.fc = torch.nn.Identity()
        self.global_embedder = torch.nn.Linear(width, dim)

    def forward(self, x):
        return self.global_embedder(self.model(x))


class OfficialText(torch.nn.Module):
    """Transcription of the official BertEncoder: a BertModel with pooler; the last n layers summed,
    the real tokens summed and divided by the padded length."""

    def __init__(self, config, last_n, old_transformers):
        super().__init__()
        self.model = BertModel(config, add_pooling_layer=True)
        self.last_n = last_n
        if old_transformers:   # transformers 4.30.2 kept position_ids in the state dict
            ids = self.model.embeddings.position_ids.clone()
            del self.model.embeddings.position_ids
            self.model.embeddings.register_buffer("position_ids", ids, persistent=True)

    def forward(self, tokens):
        out = self.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                         output_hidden_states=True)
        summed = torch.stack(out.hidden_states[-self.last_n:]).sum(0)
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        return (summed * mask).sum(1) / tokens["input_ids"].shape[1]


class OfficialModel(torch.nn.Module):
    def __init__(self, bert_config, old_transformers):
        super().__init__()
        self.backbone_img = OfficialImage("resnet18", bert_config.hidden_size)
        self.backbone_text = OfficialText(bert_config, 2, old_transformers)


@pytest.mark.parametrize("position_ids", [True, False])
def test_export_loads_in_the_official_layout_with_the_same_embeddings(released, world, tmp_path, capsys,
                                                                      position_ids):
    from safetensors.torch import load_file

    from surgvlp_fast.cli import main
    from surgvlp_fast.models import load_tokenizer
    from surgvlp_fast.zeroshot import tokenize

    folder, model, _ = released
    ours = tmp_path / "run" / "last.pt"
    ours.parent.mkdir()
    trained = {k: v for k, v in model.state_dict().items()}
    assert not any(".pooler." in k for k in trained)   # our BERT has none
    torch.save({"model": {f"module.{k}": v for k, v in trained.items()}, "step": 3}, ours)
    out = tmp_path / "export" / "Ours.pth"
    args = ["export", str(ours), str(out), *([] if position_ids else ["--no-position-ids"])]
    assert main(args) == 0
    assert "safetensors" in capsys.readouterr().out
    bert = model.backbone_text.model.config
    config = BertConfig(vocab_size=bert.vocab_size, hidden_size=bert.hidden_size, num_hidden_layers=bert.num_hidden_layers,
                        num_attention_heads=bert.num_attention_heads, intermediate_size=bert.intermediate_size,
                        max_position_embeddings=bert.max_position_embeddings)
    tokenizer = load_tokenizer(f"{world}/tokenizer")
    tokens = tokenize(tokenizer, ["the grasper holds the gallbladder", "clip"], 16)
    frames = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected_img, expected_txt = model.encode_frames(frames), model.encode_text(tokens)
    for state in (torch.load(out, weights_only=True), load_file(out.with_suffix(".safetensors"))):
        official = OfficialModel(config, old_transformers=position_ids)
        official.load_state_dict(state, strict=True)
        official.eval()
        with torch.no_grad():
            # our trunk runs channels-last (model.vision.channels_last), the official one NCHW: other kernels,
            # other summation orders. ResNet-18: 20 stages (17 convolutions of up to 3·3·512 terms with their
            # batch norms, the pooling, the projection); BERT: per layer the attention's products, softmax and
            # sum over the tokens and the feed-forward's products (8 stages), then the pooling.
            vision = rounding_bound(torch.float32, 3 * 3 * 512, depth=20)
            text = rounding_bound(torch.float32, max(bert.hidden_size, bert.intermediate_size, tokens["input_ids"].shape[-1]),
                                  depth=8 * bert.num_hidden_layers + 2)
            assert_close(official.backbone_img(frames), expected_img, vision)
            assert_close(official.backbone_text(tokens), expected_txt, text)


def test_export_refuses_what_the_official_layout_cannot_hold(tmp_path, capsys):
    from surgvlp_fast.cli import main

    path = tmp_path / "x.pt"
    torch.save({"model": {"backbone_text.projection.weight": torch.zeros(2, 2)}}, path)
    assert main(["export", str(path), str(tmp_path / "o.pth")]) == 1
    err = capsys.readouterr().err
    assert "no place for backbone_text.projection.weight" in err and "Traceback" not in err
