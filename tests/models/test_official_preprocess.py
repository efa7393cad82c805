"""The official evaluation preprocessing against a transcription of it in torchvision + PIL
(reference.md §1.2, §6.1) on real image files of each PIL mode."""
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from surgvlp_fast.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, eval_transform, official_preprocess


def transcription(path, convert_first):
    """The official code: Recognition_frame's pil_loader + the config's transforms (convert first), or
    the README's `surgvlp.load` transform (convert after the crop)."""
    steps = [T.Resize((360, 640)), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    with open(path, "rb") as f:
        image = Image.open(f)
        image = image.convert("RGB") if convert_first else image.copy()
    if not convert_first:
        steps.insert(2, T.Lambda(lambda im: im.convert("RGB")))
    return T.Compose(steps)(image)


def frame(mode, seed, size=(854, 480)):
    g = torch.Generator().manual_seed(seed)
    w, h = size
    base = torch.linspace(0, 255, w).view(1, w).expand(h, w)
    noise = torch.randint(0, 256, (3, h, w), generator=g).float()
    rgb = ((0.6 * base + 0.4 * noise).clamp(0, 255).to(torch.uint8)).permute(1, 2, 0).numpy()
    image = Image.fromarray(rgb, "RGB")
    if mode == "L":
        return image.convert("L")
    if mode == "P":
        return image.convert("P", palette=Image.ADAPTIVE, colors=64)
    if mode == "RGBA":
        alpha = Image.fromarray(noise[0].to(torch.uint8).numpy(), "L")
        image = image.copy()
        image.putalpha(alpha)
    return image


@pytest.mark.parametrize("convert_first", [True, False])
@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA"])
def test_matches_transcription_bit_for_bit(tmp_path, mode, convert_first):
    path = tmp_path / f"frame_{mode}.png"
    frame(mode, seed=len(mode)).save(path)
    with Image.open(path) as check:
        assert check.mode == mode
    ours = official_preprocess(str(path), convert_first=convert_first)
    theirs = transcription(path, convert_first)
    assert ours.shape == (3, 224, 224) and ours.dtype == torch.float32
    assert torch.equal(ours, theirs)
    with Image.open(path) as image:   # a PIL image in, the same out
        assert torch.equal(official_preprocess(image, convert_first=convert_first), theirs)


def test_order_of_conversion_matters_for_palette(tmp_path):
    path = tmp_path / "p.png"
    frame("P", seed=3).save(path)
    assert not torch.equal(official_preprocess(str(path), convert_first=True),
                           official_preprocess(str(path), convert_first=False))


def test_fast_tensor_path_is_close_not_equal(tmp_path):
    """The float, antialiased tensor path used during training differs by less than one uint8 step."""
    image = frame("RGB", seed=7)
    official = official_preprocess(image)
    rgb = torch.from_numpy(__import__("numpy").array(image)).permute(2, 0, 1).unsqueeze(0)
    fast = eval_transform(rgb)[0]
    step = 1 / (255 * min(IMAGENET_STD))
    assert (fast - official).abs().max() < 3 * step
    assert not torch.equal(fast, official)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA"])
def test_phase_protocols_read_frames_the_official_way(tmp_path, mode):
    """The frozen phase protocols' reader + transform give the official values on each kind of file."""
    from surgvlp_fast.evaluation.protocols import phase_videos
    from surgvlp_fast.evaluation.options import EvalOptions

    folder = tmp_path / "downstream_datasets" / "cholec80"
    (folder / "csvs").mkdir(parents=True)
    (folder / "frames").mkdir()
    (folder / "csvs" / "video49.csv").write_text("path,label\nvideo49_0.png,1\n")
    path = folder / "frames" / "video49_1.png"   # csv row k is file k+1 (reference.md §2.7)
    frame(mode, seed=5).save(path)
    video = phase_videos(str(tmp_path), "cholec80", [49], EvalOptions())[0]
    assert torch.equal(video.frames[0], transcription(path, convert_first=True))
