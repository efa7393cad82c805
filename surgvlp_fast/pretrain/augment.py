"""Batched tensor augmentation and normalisation (CPU or GPU, no PIL).

The clip-level chain of reference.md §2.4, applied to every frame with its own random draw
(the reference) or with one draw per clip (`consistent=True`):
RandomResizedCrop(S, scale=(0.08, 1), ratio=(3/4, 4/3)) -> ColorJitter(0.4, 0.4, 0.4, 0.1) with p=0.8
(the four adjustments in a random order) -> RandomGrayscale(p=0.2) -> Gaussian blur σ∈U(0.1, 2) with
p=0.5 -> RandomHorizontalFlip -> Normalize(ImageNet).

The parameters are drawn on the CPU from a `torch.Generator` (deterministic for a seed, whatever the
device), and the pixels are processed on the frames' device.

Two implementations of the pixels, for the same draws: `ClipAugmentation.apply` in plain PyTorch on
[0, 1] floats (the reference; the GPU path), and the compiled kernel `surgvlp_fast._C.augment` for
uint8 frames on the CPU (`native_views`), which runs the whole chain frame by frame on one float
buffer per frame (one pass per step, in cache, no gathers, frames spread over torch's threads). It
gives the reference's pixels up to float rounding (tests/pretrain/test_augment_native.py); the blur
radius is ceil(3σ) of each frame (the reference takes ceil(3σ_max) over a chunk of frames, which
only moves tails below exp(-4.5) of the peak). `SURGVLP_FAST_DISABLE_NATIVE=1` or float / GPU
frames take the reference.
"""
import math

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from surgvlp_fast._native import native_submodule
from surgvlp_fast.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # as torchvision's tensor ops

def _uniform(n, low, high, generator):
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def sample_crop_boxes(n: int, height: int, width: int, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                      attempts: int = 10) -> torch.Tensor:
    """torchvision's RandomResizedCrop box search, vectorised: (n, 4) boxes x0, y0, x1, y1 in pixels.

    Up to `attempts` draws of (area, log-ratio) per image; the first that fits is kept, otherwise the
    central crop of the aspect ratio clamped to `ratio`."""
    area = height * width
    target = area * _uniform((n, attempts), *scale, generator)
    log_r = _uniform((n, attempts), math.log(ratio[0]), math.log(ratio[1]), generator)
    aspect = torch.exp(log_r)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (h > 0) & (w <= width) & (h <= height)
    first = torch.where(fits.any(1), fits.float().argmax(1), torch.full((n,), -1))
    u = torch.rand((n, 2), generator=generator, dtype=torch.float64)
    boxes = torch.empty((n, 4), dtype=torch.float64)
    for_fallback = first < 0
    idx = first.clamp(min=0)
    cw, ch = w[torch.arange(n), idx], h[torch.arange(n), idx]
    x0 = torch.floor(u[:, 0] * (width - cw + 1))
    y0 = torch.floor(u[:, 1] * (height - ch + 1))
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fw, fh = round(height * ratio[1]), height
    else:
        fw, fh = width, height
    cw = torch.where(for_fallback, torch.full_like(cw, fw), cw)
    ch = torch.where(for_fallback, torch.full_like(ch, fh), ch)
    x0 = torch.where(for_fallback, torch.full_like(x0, (width - fw) // 2), x0)
    y0 = torch.where(for_fallback, torch.full_like(y0, (height - fh) // 2), y0)
    boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3] = x0, y0, x0 + cw, y0 + ch
    return boxes


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size) -> torch.Tensor:
    """Crop each image (N, C, H, W) float to its box and resize to `size` (int or (h, w); bilinear,
    averaging several samples per output pixel when shrinking)."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    rois = torch.cat([torch.arange(len(x), dtype=torch.float64)[:, None], boxes], 1).to(x.device, x.dtype)
    return roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma, as one 1x1 convolution."""
    return F.conv2d(x, torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1))


def _blend(a, b, ratio):
    return (ratio * a + (1 - ratio) * b).clamp(0, 1)


def adjust_brightness(x, factor):
    return (x * factor.view(-1, 1, 1, 1)).clamp(0, 1)


def adjust_contrast(x, factor):
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor.view(-1, 1, 1, 1))


def adjust_saturation(x, factor):
    return _blend(x, _gray(x), factor.view(-1, 1, 1, 1))


def adjust_hue(x, shift):
    """torchvision's hue shift (RGB -> HSV, h += shift, -> RGB) in a closed form with few passes:
    value and chroma are kept, and channel n in (R, G, B) = (5, 3, 1) is
    v - c·clamp(min(k, 4 - k), 0, 1) with k = (n + 6h) mod 6."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    v = torch.maximum(torch.maximum(r, g), b)
    c = v - torch.minimum(torch.minimum(r, g), b)
    safe = c.clamp(min=1e-12)
    h6 = torch.where(v == r, (g - b) / safe, torch.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h6 = h6.add_(6.0 * shift.view(-1, 1, 1)).remainder_(6.0)
    out = torch.empty_like(x)
    for channel, n in enumerate((5.0, 3.0, 1.0)):
        k = (h6 + n).remainder_(6.0)
        torch.minimum(k, 4.0 - k, out=k).clamp_(0, 1)
        torch.sub(v, k.mul_(c), out=out[:, channel])
    return out


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image (N, C, H, W) with its own σ (N,): separable kernels of radius ceil(3·σ_max),
    reflect padding."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma.to(x.device, x.dtype)[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (N*C, K)
    flat = x.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


JITTER_OPS = (("brightness", adjust_brightness), ("contrast", adjust_contrast),
              ("saturation", adjust_saturation), ("hue", adjust_hue))


class ClipAugmentation:
    """The clip-level augmentation chain on batches of frames.

    `__call__(frames (B, T, 3, H, W) uint8 or [0, 1] float, generator) -> (B, T, 3, S, S)` normalised.
    consistent=False (the reference): every frame gets its own parameters; True: one draw per clip.
    size: output side (None keeps the input size).
    """

    def __init__(self, size: int | None = None, scale=(0.08, 1.0), jitter=(0.4, 0.4, 0.4, 0.1), p_jitter=0.8,
                 p_gray=0.2, blur_sigma=(0.1, 2.0), p_blur=0.5, p_flip=0.5, consistent: bool = False):
        self.size, self.scale, self.jitter, self.p_jitter = size, scale, jitter, p_jitter
        self.p_gray, self.blur_sigma, self.p_blur, self.p_flip = p_gray, blur_sigma, p_blur, p_flip
        self.consistent = consistent

    def sample_parameters(self, b: int, t: int, height: int, width: int, generator=None) -> dict:
        """Every random draw of one call, on the CPU: per frame, or per clip repeated over T."""
        n = b if self.consistent else b * t
        bri, con, sat, hue = self.jitter
        params = {
            "boxes": sample_crop_boxes(n, height, width, generator, self.scale),
            "jitter": torch.rand(n, generator=generator) < self.p_jitter,
            "order": torch.argsort(torch.rand((n, 4), generator=generator), dim=1),
            "brightness": _uniform(n, max(0, 1 - bri), 1 + bri, generator),
            "contrast": _uniform(n, max(0, 1 - con), 1 + con, generator),
            "saturation": _uniform(n, max(0, 1 - sat), 1 + sat, generator),
            "hue": _uniform(n, -hue, hue, generator),
            "gray": torch.rand(n, generator=generator) < self.p_gray,
            "blur": torch.rand(n, generator=generator) < self.p_blur,
            "sigma": _uniform(n, *self.blur_sigma, generator),
            "flip": torch.rand(n, generator=generator) < self.p_flip,
        }
        if self.consistent:
            params = {k: v.repeat_interleave(t, 0) for k, v in params.items()}
        return params

    def __call__(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b, t, c, h, w = frames.shape
        params = self.sample_parameters(b, t, h, w, generator)
        x = frames.reshape(b * t, c, h, w)
        if _native_applies(x):
            out = native_views(x, params, self.size or (h, w))
        else:
            x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
            out = normalize(self.apply(x, params))
        return out.reshape(b, t, c, *out.shape[-2:])

    def apply(self, x: torch.Tensor, params: dict, chunk: int | None = None) -> torch.Tensor:
        """x (N, 3, H, W) float in [0, 1] -> augmented (N, 3, S, S) in [0, 1].

        chunk: frames processed together (default: 8 on the CPU, where small chunks stay in cache,
        all at once on a GPU)."""
        chunk = chunk or (len(x) if x.is_cuda else 8)
        out = [self._apply(x[i:i + chunk], {k: v[i:i + chunk] for k, v in params.items()})
               for i in range(0, len(x), chunk)]
        return torch.cat(out)

    def _apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        x = resized_crop(x, params["boxes"], self.size or x.shape[-2:]).clamp_(0, 1)
        if x.is_cuda:
            self._jitter_batched(x, params)
        else:  # frame by frame: no gathers, each frame stays in cache
            for i in torch.nonzero(params["jitter"]).flatten().tolist():
                frame = x[i:i + 1]
                for op_index in params["order"][i].tolist():
                    name, op = JITTER_OPS[op_index]
                    frame = op(frame, params[name][i:i + 1].to(x.dtype))
                x[i:i + 1] = frame
        rows = torch.nonzero(params["gray"]).flatten().to(x.device)
        if len(rows):
            x[rows] = _gray(x[rows]).expand(-1, 3, -1, -1)
        rows = torch.nonzero(params["blur"]).flatten()
        if len(rows):
            x[rows.to(x.device)] = gaussian_blur(x[rows.to(x.device)], params["sigma"][rows])
        rows = torch.nonzero(params["flip"]).flatten().to(x.device)
        if len(rows):
            x[rows] = x[rows].flip(-1)
        return x

    @staticmethod
    def _jitter_batched(x: torch.Tensor, params: dict):
        """Stage by stage, each jittered frame applies its stage-th adjustment (GPU path)."""
        for stage in range(4):
            for op_index, (name, op) in enumerate(JITTER_OPS):
                rows = torch.nonzero(params["jitter"] & (params["order"][:, stage] == op_index)).flatten()
                if len(rows):
                    rows_d = rows.to(x.device)
                    x[rows_d] = op(x[rows_d], params[name][rows].to(x.device, x.dtype))


def make_views(video: torch.Tensor, n_aug: int = 2, generator: torch.Generator | None = None,
               augmentation: ClipAugmentation | None = None) -> tuple:
    """uint8 clips (B, T, 3, H, W) on any device -> (original, aug_1, ..., aug_n) normalised float32.

    The original view is `/255` + ImageNet normalisation; each augmented view runs the clip chain
    with fresh draws from `generator`."""
    augmentation = augmentation or ClipAugmentation()
    if _native_applies(video):  # a table of the 256 normalised values per channel, looked up
        table = normalize(torch.arange(256, dtype=torch.uint8).expand(3, 1, 256)).reshape(3, 256).contiguous()
        original = native_submodule("augment").normalize_uint8(video.contiguous(), table)
    else:
        original = normalize(video)
    return (original, *(augmentation(video, generator) for _ in range(n_aug)))


# ---------------------------------------------------------------- the compiled CPU path
def _native_applies(frames: torch.Tensor) -> bool:
    return frames.dtype == torch.uint8 and frames.device.type == "cpu" and native_submodule("augment") is not None


def _affine():
    """preprocess.normalize of [0, 1] floats as bias + x * scale (the same float32 values)."""
    std = torch.tensor(IMAGENET_STD)
    return 1 / std, -torch.tensor(IMAGENET_MEAN) / std


def native_views(frames: torch.Tensor, params: dict, size) -> torch.Tensor:
    """The chain on uint8 CPU frames (N, 3, H, W) with the drawn `params` (sample_parameters), by the
    compiled kernel -> normalised float32 (N, 3, S, S): the reference `apply` (chunk=1) + normalize."""
    size = (size, size) if isinstance(size, int) else tuple(int(v) for v in size)
    n = len(frames)
    order = torch.where(params["jitter"][:, None], params["order"], torch.full_like(params["order"], -1))
    factors = torch.stack([params[name] for name, _ in JITTER_OPS], 1).float()
    radius = torch.where(params["blur"], torch.ceil(3 * params["sigma"]).clamp(min=1).long(), 0)
    scale, bias = _affine()
    return native_submodule("augment").clip_augment(
        frames.contiguous(), params["boxes"].float().contiguous(), size[0], size[1], order.contiguous(),
        factors.contiguous(), params["gray"].reshape(n).contiguous(), radius, params["sigma"].float().contiguous(),
        params["flip"].reshape(n).contiguous(), scale, bias)
