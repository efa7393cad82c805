"""DualEncoder shapes and modes, frame-mean pooling, vision weights, gradient checkpointing."""
import os

import pytest
import torch

from surgvlp_fast.models import DualEncoder, TextEncoder, VisionEncoder, build_bert
from surgvlp_fast.models.vision import TinyCNN, imagenet_weights_file
from surgvlp_fast.testing import assert_close, rounding_bound


def tiny_model(norm="batch", checkpointing=False) -> DualEncoder:
    torch.manual_seed(0)
    bert = build_bert(vocab_size=40, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                      max_positions=16, dropout=0.0)
    if checkpointing:
        bert.activation_checkpointing_enable({"use_reentrant": False})
    return DualEncoder(VisionEncoder("tiny_cnn", 16, norm=norm, gradient_checkpointing=checkpointing),
                       TextEncoder(bert, 2, 16))


def tokens(n=3, length=7):
    ids = torch.randint(4, 40, (n, length))
    mask = torch.ones(n, length, dtype=torch.long)
    mask[0, 4:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_modes_and_frame_mean():
    model = tiny_model().eval()
    video = torch.randn(2, 5, 3, 32, 32)
    with torch.no_grad():
        out = model(video=video, text=tokens(), mode="all")
        frames = model.encode_frames(video.flatten(0, 1)).view(2, 5, -1)
        assert set(model(video=video, mode="video")) == {"frame_emb", "img_emb"}
        assert set(model(text=tokens(), mode="text")) == {"text_emb"}
        assert model(video=video[:, 0], mode="video")["img_emb"].shape == (2, 16)
    torch.testing.assert_close(out["frame_emb"], frames, rtol=0, atol=0)   # the same batch through the same kernels
    assert_close(out["img_emb"], frames.mean(1), rounding_bound(torch.float32, 5))   # a mean of 5 frames
    assert out["text_emb"].shape == (3, 16)
    with pytest.raises(ValueError, match="mode"):
        model(video=video, mode="action")
    with pytest.raises(ValueError, match="needs text"):
        model(video=video, mode="all")


def test_tiny_cnn_size():
    assert 0.2e6 < sum(p.numel() for p in TinyCNN().parameters()) < 0.4e6


def test_gradient_checkpointing_gives_the_same_gradients():
    video, text = torch.randn(2, 2, 3, 32, 32), tokens()
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(norm="group", checkpointing=checkpointing).train()
        out = model(video=video, text=text)
        (out["img_emb"].sum() + out["text_emb"].pow(2).sum()).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):   # the forward recomputed by the same kernels: the same gradients
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_resnet_checkpointing_matches():
    torch.manual_seed(0)
    model = VisionEncoder("resnet18", 8, weights="random").train()
    x = torch.randn(2, 3, 32, 32)
    ref = model(x)
    model.gradient_checkpointing = True
    torch.testing.assert_close(model(x), ref, rtol=0, atol=0)


def test_vision_weights_from_a_local_file(tmp_path):
    import torchvision

    trunk = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(trunk.state_dict(), path)   # torchvision layout, fc included (ignored)
    encoder = VisionEncoder("resnet18", 8, weights=str(path))
    assert torch.equal(encoder.model.conv1.weight, trunk.conv1.weight)
    with pytest.raises(FileNotFoundError, match="no such file"):
        VisionEncoder("resnet18", 8, weights=str(tmp_path / "absent.pth"))


def test_imagenet_weights_are_never_downloaded(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path, url = imagenet_weights_file("resnet18")
    assert not os.path.exists(path)
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        VisionEncoder("resnet18", 8, weights="imagenet")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("backbone", ["tiny_cnn", "resnet18"])
def test_channels_last_trunk_gives_the_same_outputs_and_gradients(backbone):
    frames = torch.randn(5, 3, 37, 45, dtype=torch.float64)   # odd sizes, batch statistics (train mode)
    outs, grads = [], []
    for channels_last in (False, True):
        torch.manual_seed(0)
        encoder = VisionEncoder(backbone, 8, weights="random", channels_last=channels_last).double().train()
        conv = next(m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        x = frames.clone().requires_grad_()
        out = encoder(x)
        out.pow(2).sum().backward()
        outs.append(out.detach())
        grads.append([x.grad, *[p.grad for p in encoder.parameters()]])
    # other kernels and summation orders: 20 stages of convolutions (up to 3·3·512 terms) and batch norms
    # (statistics over up to 5·19·23 positions) forward, as many backward
    bound = rounding_bound(torch.float64, 3 * 3 * 512, depth=20)
    assert_close(outs[0], outs[1], bound)
    for a, b in zip(*grads):
        assert_close(a, b, 2 * bound)


def test_eval_mode_restores_the_models_own_mode_also_on_an_error():
    from surgvlp_fast.models.modes import eval_mode

    model = torch.nn.Sequential(torch.nn.Dropout(0.5))
    for training in (True, False):
        model.train(training)
        with eval_mode(model) as inside:
            assert inside is model and not model.training
        assert model.training == training
        with pytest.raises(RuntimeError, match="boom"):
            with eval_mode(model):
                raise RuntimeError("boom")
        assert model.training == training
