"""Batched tensor augmentation and normalisation (CPU or GPU, no PIL).

The clip-level chain of reference.md §2.4, applied to every frame with its own random draw
(the reference) or with one draw per clip (`consistent=True`):
RandomResizedCrop(S, scale=(0.08, 1), ratio=(3/4, 4/3)) -> ColorJitter(0.4, 0.4, 0.4, 0.1) with p=0.8
(the four adjustments in a random order) -> RandomGrayscale(p=0.2) -> Gaussian blur σ∈U(0.1, 2) with
p=0.5 -> RandomHorizontalFlip -> Normalize(ImageNet).

The parameters are drawn on the CPU from a `torch.Generator` (deterministic for a seed, whatever the
device), and the pixels are processed on the frames' device.
"""
import math

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # as torchvision's tensor ops


def normalize(frames: torch.Tensor) -> torch.Tensor:
    """uint8 or [0, 1] float frames (..., 3, H, W) -> ImageNet-normalised float32."""
    x = frames.float() / 255 if frames.dtype == torch.uint8 else frames.float()
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
    return (x - mean) / std


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
    r, g, b = x.unbind(1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def _blend(a, b, ratio):
    return (ratio * a + (1 - ratio) * b).clamp(0, 1)


def _rgb_to_hsv(x):
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    safe = torch.where(delta == 0, torch.ones_like(delta), delta)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta == 0, torch.zeros_like(h), (h / 6.0) % 1.0)
    return h, s, maxc


def _hsv_to_rgb(h, s, v):
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = torch.stack([torch.stack(c, 1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    index = i.unsqueeze(1).expand(-1, 3, -1, -1).unsqueeze(0)  # (1, N, 3, H, W)
    return choices.gather(0, index).squeeze(0)


def adjust_brightness(x, factor):
    return (x * factor.view(-1, 1, 1, 1)).clamp(0, 1)


def adjust_contrast(x, factor):
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor.view(-1, 1, 1, 1))


def adjust_saturation(x, factor):
    return _blend(x, _gray(x), factor.view(-1, 1, 1, 1))


def adjust_hue(x, shift):
    h, s, v = _rgb_to_hsv(x)
    return _hsv_to_rgb((h + shift.view(-1, 1, 1)) % 1.0, s, v)


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
        x = frames.reshape(b * t, c, h, w)
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        out = self.apply(x, self.sample_parameters(b, t, h, w, generator))
        return normalize(out).reshape(b, t, c, *out.shape[-2:])

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        """x (N, 3, H, W) float in [0, 1] -> augmented (N, 3, S, S) in [0, 1]."""
        device = x.device
        x = resized_crop(x, params["boxes"], self.size or x.shape[-2:]).clamp(0, 1)
        factors = {"brightness": params["brightness"], "contrast": params["contrast"],
                   "saturation": params["saturation"], "hue": params["hue"]}
        ops = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
        names = ("brightness", "contrast", "saturation", "hue")
        jitter = params["jitter"]
        for stage in range(4):  # each jittered frame applies its stage-th adjustment
            for op_index, (op, name) in enumerate(zip(ops, names)):
                rows = torch.nonzero(jitter & (params["order"][:, stage] == op_index)).flatten()
                if len(rows):
                    rows_d = rows.to(device)
                    x[rows_d] = op(x[rows_d], factors[name][rows].to(device, x.dtype))
        gray = params["gray"].to(device)
        x = torch.where(gray.view(-1, 1, 1, 1), _gray(x).expand_as(x), x)
        rows = torch.nonzero(params["blur"]).flatten()
        if len(rows):
            rows_d = rows.to(device)
            x[rows_d] = gaussian_blur(x[rows_d], params["sigma"][rows])
        flip = params["flip"].to(device)
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def make_views(video: torch.Tensor, n_aug: int = 2, generator: torch.Generator | None = None,
               augmentation: ClipAugmentation | None = None) -> tuple:
    """uint8 clips (B, T, 3, H, W) on any device -> (original, aug_1, ..., aug_n) normalised float32.

    The original view is `/255` + ImageNet normalisation; each augmented view runs the clip chain
    with fresh draws from `generator`."""
    augmentation = augmentation or ClipAugmentation()
    original = normalize(video)
    return (original, *(augmentation(video, generator) for _ in range(n_aug)))


def eval_transform(frames: torch.Tensor, resize=(360, 640), crop: int = 224) -> torch.Tensor:
    """Evaluation preprocessing (reference.md §6.1): uint8 (N, 3, H, W) -> resize to 360×640 (aspect
    not kept), centre crop 224, ImageNet normalisation."""
    x = frames.float() / 255 if frames.dtype == torch.uint8 else frames.float()
    x = F.interpolate(x, size=resize, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    top, left = (resize[0] - crop) // 2, (resize[1] - crop) // 2
    return normalize(x[..., top:top + crop, left:left + crop])


def square_eval_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """CholecT50 preprocessing: centre crop to a square of min(H, W), resize to size×size, normalise."""
    x = frames.float() / 255 if frames.dtype == torch.uint8 else frames.float()
    h, w = x.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = x[..., top:top + side, left:left + side]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    return normalize(x)
