"""Image preprocessing of the encoders: ImageNet normalisation and the evaluation transforms
(reference.md §6.1), on uint8 or [0, 1] float tensors, CPU or GPU."""
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

def normalize(frames: torch.Tensor) -> torch.Tensor:
    """uint8 or [0, 1] float frames (..., 3, H, W) -> ImageNet-normalised float32 (one fused pass)."""
    scale = 1 / (255 * torch.tensor(IMAGENET_STD)) if frames.dtype == torch.uint8 else 1 / torch.tensor(IMAGENET_STD)
    bias = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    shape = (3, 1, 1)
    return torch.addcmul(bias.view(shape).to(frames.device), frames.float(), scale.view(shape).to(frames.device))


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
