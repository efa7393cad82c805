"""The compiled clip augmentation (surgvlp_fast._C.augment) against the plain-PyTorch reference
(ClipAugmentation.apply + normalize) on the same random draws."""
import pytest
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.models import preprocess as P
from surgvlp_fast.pretrain import augment as T
from surgvlp_fast.testing import rounding_bound

# Rounding bound of the chain (surgvlp_fast.testing): the crop's resampling (up to 8x8 samples of 4 bilinear
# terms a pixel), four colour adjustments of about 3 stages each (hue: RGB -> HSV -> RGB), the grayscale's 3
# terms, the separable blur (2 passes of up to 13 taps), the normalisation; outputs of size up to
# (1 - 0.406) / 0.225.
CHAIN = rounding_bound(torch.float32, 256, depth=18) * (1 - 0.406) / 0.225

native = native_submodule("augment")
pytestmark = pytest.mark.skipif(native is None, reason="compiled core not built or switched off")


def _frames(n, h, w, seed=0):
    return torch.randint(0, 256, (n, 3, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _reference(aug, frames, params):
    """The reference chain, with each frame's blur radius ceil(3σ) of its own (chunk=1)."""
    return P.normalize(aug.apply(frames.float() / 255, {k: v.clone() for k, v in params.items()}, chunk=1))


@pytest.mark.parametrize("h,w,size,consistent", [
    (40, 48, 24, False),      # shrink: several samples per output pixel
    (64, 64, 64, False),      # the demo's frames
    (50, 37, 31, True),       # odd, portrait, one draw per clip
    (30, 30, None, False),    # size kept
    (17, 90, (20, 12), False),  # wide input, non-square output, enlarging crops
])
def test_same_pixels_as_the_reference_for_the_same_draws(h, w, size, consistent):
    aug = T.ClipAugmentation(size=size, consistent=consistent)
    b, t = 12, 2
    params = aug.sample_parameters(b, t, h, w, torch.Generator().manual_seed(2))
    for key in ("jitter", "gray", "blur", "flip"):   # every step is exercised, and skipped
        assert params[key].any() and not params[key].all(), key
    frames = _frames(b * t, h, w)
    fast = T.native_views(frames, params, size or (h, w))
    ref = _reference(aug, frames, params)
    assert fast.shape == ref.shape and fast.dtype == torch.float32
    assert (fast - ref).abs().max() <= CHAIN


@pytest.mark.parametrize("op", range(4))
def test_each_colour_adjustment_alone(op):
    """One jitter op on every frame, strong factors: brightness, contrast, saturation, hue."""
    aug = T.ClipAugmentation(size=32, scale=(1.0, 1.0), p_jitter=1.0, p_gray=0.0, p_blur=0.0, p_flip=0.0,
                             jitter=(0.9, 0.9, 0.9, 0.5))
    params = aug.sample_parameters(4, 2, 32, 32, torch.Generator().manual_seed(op))
    params["order"][:] = torch.tensor([op, op, op, op])  # the same op at every stage: 4 passes of it
    frames = _frames(8, 32, 32, seed=op)
    assert (T.native_views(frames, params, 32) - _reference(aug, frames, params)).abs().max() <= CHAIN


def test_make_views_uses_the_kernel_with_the_reference_draws(monkeypatch):
    video = _frames(2 * 4, 36, 36).reshape(2, 4, 3, 36, 36)
    fast = T.make_views(video, n_aug=2, generator=torch.Generator().manual_seed(7))
    monkeypatch.setattr(T, "native_submodule", lambda name: None)
    ref = T.make_views(video, n_aug=2, generator=torch.Generator().manual_seed(7))
    assert torch.equal(fast[0], ref[0])   # the original view: a table made by normalize itself
    for a, b in zip(fast[1:], ref[1:]):
        # the reference's blur radius is ceil(3 σ_max) over a chunk of 8 frames: only far tails differ
        assert (a - b).abs().max() < 5e-3 and (a - b).abs().mean() < 1e-4


def test_bad_input_is_refused_with_a_message():
    frames = _frames(2, 20, 20)
    aug = T.ClipAugmentation(size=16)
    params = aug.sample_parameters(1, 2, 20, 20, torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError, match="frames must be a contiguous CPU"):
        T.native_views(frames.float(), params, 16)
    params["boxes"][0] = torch.tensor([5.0, 5.0, 30.0, 10.0], dtype=torch.float64)
    with pytest.raises(RuntimeError, match="box 0 .* leaves the 20x20 frame"):
        T.native_views(frames, params, 16)
