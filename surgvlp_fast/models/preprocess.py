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


def official_preprocess(image, resize=(360, 640), crop: int = 224, convert_first: bool = True) -> torch.Tensor:
    """The official package's evaluation preprocessing, bit for bit: a PIL image (or a path) ->
    float32 (3, crop, crop). PIL bilinear resize of the uint8 image to `resize` (aspect not kept),
    centre crop (torchvision's rounding), ToTensor (/255), then (x - mean) / std as Normalize does.

    `convert_first=True` is the zero-shot loader's order (`Image.open(...).convert('RGB')` before
    the transforms: greyscale, palette and RGBA files are resized as RGB); False is the order of the
    README transform (`surgvlp.load`), which converts to RGB after resize and crop."""
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        with Image.open(image) as opened:
            image = opened.convert("RGB") if convert_first else opened.copy()
    elif convert_first:
        image = image.convert("RGB")
    height, width = resize
    image = image.resize((width, height), Image.BILINEAR)
    top, left = int(round((height - crop) / 2.0)), int(round((width - crop) / 2.0))
    image = image.crop((left, top, left + crop, top + crop)).convert("RGB")
    x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return x.sub(mean).div(std)


class OfficialPreprocess:
    """`official_preprocess` as the callable `surgvlp_fast.load` returns: image or path -> (3, 224, 224)."""

    def __init__(self, resize=(360, 640), crop: int = 224, convert_first: bool = True):
        self.resize, self.crop, self.convert_first = tuple(resize), crop, convert_first

    def __call__(self, image) -> torch.Tensor:
        return official_preprocess(image, self.resize, self.crop, self.convert_first)

    def __repr__(self) -> str:
        return f"OfficialPreprocess(resize={self.resize}, crop={self.crop}, convert_first={self.convert_first})"


def official_frames(frames: torch.Tensor, resize=(360, 640), crop: int = 224) -> torch.Tensor:
    """`official_preprocess` of uint8 RGB frames (N, 3, H, W) (frames read as `Image.open().convert("RGB")`,
    as the evaluation readers do): the same values as the official path on the image files."""
    from PIL import Image

    return torch.stack([official_preprocess(Image.fromarray(f.permute(1, 2, 0).contiguous().numpy(), "RGB"),
                                            resize, crop, convert_first=False) for f in frames])
