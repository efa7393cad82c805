import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from surgvlp_fast.models import preprocess as P
from surgvlp_fast.pretrain import augment as T
from surgvlp_fast.testing import assert_close, rounding_bound

NORMALISED = (1 - 0.406) / 0.225   # the largest |value| after the ImageNet normalisation
# the four colour adjustments, about 3 stages each (hue: RGB -> HSV -> RGB), of up to 3 terms
JITTER = rounding_bound(torch.float32, 3, depth=12)


def _frames(b=2, t=3, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, t, 3, h, w), generator=g, dtype=torch.uint8)


def _only(**kw):
    """An augmentation with every random step off except those given."""
    base = dict(scale=(1.0, 1.0), p_jitter=0.0, p_gray=0.0, p_blur=0.0, p_flip=0.0)
    base.update(kw)
    return T.ClipAugmentation(**base)


def test_crop_boxes_follow_random_resized_crop():
    g = torch.Generator().manual_seed(1)
    boxes = T.sample_crop_boxes(4000, 90, 120, g)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    area = w * h / (90 * 120)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= 120).all() and (boxes[:, 3] <= 90).all()
    assert area.min() >= 0.08 - 0.01 and area.max() <= 1.0
    ratio = w / h
    assert ratio.min() >= 3 / 4 - 0.05 and ratio.max() <= 4 / 3 + 0.05
    assert 0.3 < area.mean() < 0.7  # spread over the range, not stuck at one end


def test_full_crop_without_jitter_is_identity_and_flip_really_flips():
    x = _frames(h=40, w=40)  # square: a scale-1 crop of any allowed ratio rounds to the full image
    same = _only()(x)
    resample = rounding_bound(torch.float32, 4, depth=3)   # bilinear weights of 4 terms, then the normalisation
    assert_close(same, P.normalize(x), resample, scale=NORMALISED)
    flipped = _only(p_flip=1.0)(x)
    assert_close(flipped, P.normalize(x).flip(-1), resample, scale=NORMALISED)


def test_grayscale_has_equal_channels():
    out = _only(p_gray=1.0)(_frames())
    raw = out * torch.tensor(P.IMAGENET_STD).view(3, 1, 1) + torch.tensor(P.IMAGENET_MEAN).view(3, 1, 1)
    bound = rounding_bound(torch.float32, 3, depth=4)   # the gray sum, the normalisation there and back
    assert_close(raw[:, :, 0], raw[:, :, 1], bound, scale=1.0)
    assert_close(raw[:, :, 1], raw[:, :, 2], bound, scale=1.0)


@pytest.mark.parametrize("name,factor", [("brightness", 1.3), ("contrast", 0.6), ("saturation", 1.4), ("hue", 0.08)])
def test_colour_adjustments_match_torchvision(name, factor):
    x = _frames(b=1, t=4)[0].float() / 255
    ours = getattr(T, f"adjust_{name}")(x.clone(), torch.full((4,), factor))
    theirs = getattr(TF, f"adjust_{name}")(x, factor)
    assert_close(ours, theirs, JITTER, scale=1.0)


def test_blur_smooths_and_keeps_mean():
    x = _frames(b=1, t=2, h=32, w=32)[0].float() / 255
    out = T.gaussian_blur(x, torch.tensor([0.3, 2.0], dtype=torch.float64))
    assert out.shape == x.shape
    assert out[1].std() < out[0].std() < x.std()
    assert torch.allclose(out.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=0.02)
    ref = TF.gaussian_blur(x[1:], kernel_size=13, sigma=2.0)
    assert (out[1:] - ref).abs().max() < 0.02


def test_deterministic_per_seed_and_per_frame_or_per_clip():
    x = _frames()
    aug = T.ClipAugmentation(size=24)
    a = aug(x, torch.Generator().manual_seed(5))
    b = aug(x, torch.Generator().manual_seed(5))
    c = aug(x, torch.Generator().manual_seed(6))
    assert a.shape == (2, 3, 3, 24, 24)
    assert torch.equal(a, b) and not torch.equal(a, c)
    same_frames = torch.zeros(1, 4, 3, 40, 40, dtype=torch.uint8) + _frames(b=1, t=1, h=40, w=40)
    per_frame = T.ClipAugmentation(size=24)(same_frames, torch.Generator().manual_seed(0))
    per_clip = T.ClipAugmentation(size=24, consistent=True)(same_frames, torch.Generator().manual_seed(0))
    assert not torch.allclose(per_frame[0, 0], per_frame[0, 1])
    for k in range(1, 4):   # the same draw on the same pixels: the chain's rounding at another offset at most
        assert_close(per_clip[0, k], per_clip[0, 0], rounding_bound(torch.float32, 256, depth=18), scale=NORMALISED)


def test_statistics_of_random_draws():
    aug = T.ClipAugmentation()
    p = aug.sample_parameters(500, 4, 64, 64, torch.Generator().manual_seed(0))
    for key, prob in (("jitter", 0.8), ("gray", 0.2), ("blur", 0.5), ("flip", 0.5)):
        assert abs(p[key].float().mean().item() - prob) < 0.03, key
    assert p["sigma"].min() >= 0.1 and p["sigma"].max() <= 2.0
    assert p["hue"].abs().max() <= 0.1 and p["brightness"].min() >= 0.6 and p["brightness"].max() <= 1.4
    assert sorted(p["order"][0].tolist()) == [0, 1, 2, 3]


def test_make_views_and_eval_transforms():
    x = _frames(h=36, w=36)
    original, aug1, aug2 = T.make_views(x, n_aug=2, generator=torch.Generator().manual_seed(0))
    assert original.dtype == torch.float32 and original.shape == aug1.shape == aug2.shape == x.shape
    assert torch.equal(original, P.normalize(x))
    assert not torch.equal(aug1, aug2)
    frames = x[0]
    ev = P.eval_transform(frames)
    assert ev.shape == (3, 3, 224, 224)
    sq = P.square_eval_transform(torch.zeros(2, 3, 30, 50, dtype=torch.uint8) + 255)
    assert sq.shape == (2, 3, 224, 224)
    assert sq[0, 0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229, rel=rounding_bound(torch.float32, 1, depth=3))


@pytest.mark.gpu
def test_same_views_on_gpu_as_on_cpu():
    x = _frames(h=48, w=48)
    cpu = T.ClipAugmentation(size=32)(x, torch.Generator().manual_seed(3))
    gpu = T.ClipAugmentation(size=32)(x.cuda(), torch.Generator().manual_seed(3))
    assert gpu.is_cuda
    assert_close(gpu.cpu(), cpu, rounding_bound(torch.float32, 256, depth=18), scale=NORMALISED)


def test_batched_jitter_path_equals_frame_by_frame():
    """The GPU path (gathered stage by stage) and the CPU path (frame by frame) agree."""
    aug = T.ClipAugmentation(scale=(1.0, 1.0), p_gray=0.0, p_blur=0.0, p_flip=0.0)
    x = _frames(b=2, t=3, h=24, w=24).reshape(6, 3, 24, 24).float() / 255
    params = aug.sample_parameters(2, 3, 24, 24, torch.Generator().manual_seed(2))
    assert params["jitter"].any()
    frame_by_frame = aug.apply(x.clone(), params)
    batched = x.clone()
    T.ClipAugmentation._jitter_batched(batched, params)
    assert_close(batched, frame_by_frame, JITTER, scale=1.0)
