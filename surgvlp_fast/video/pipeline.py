"""The one pipeline every CPU backend applies after decoding, so all return the same pixels.

decoded RGB24 frame at stored size (FFmpeg's swscale, unscaled YUV -> RGB)
  -> rotation by the display matrix (quarter turns)
  -> crop (x, y, w, h) in displayed source pixels (exact slicing)
  -> resize to (H, W): bilinear with antialias, align_corners=False, on uint8 (torch's kernel)
  -> horizontal flip -> layout "TCHW" or "THWC".
"""
import torch
import torch.nn.functional as F

LAYOUTS = ("TCHW", "THWC")


def check_request(metadata, crop, size, layout):
    """Validate the options of frames_at; returns (crop as 4 ints or None, size as (H, W) or None)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if crop is not None:
        if len(crop) != 4:
            raise ValueError(f"crop must be (x, y, w, h), got {crop!r}")
        x, y, w, h = (int(v) for v in crop)
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > metadata.width or y + h > metadata.height:
            raise ValueError(f"crop {crop!r} does not fit in the {metadata.width}x{metadata.height} frame")
        crop = (x, y, w, h)
    if size is not None:
        size = (int(size), int(size)) if isinstance(size, (int,)) else tuple(int(v) for v in size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
    return crop, size


def finish_frames(frames: torch.Tensor, quarter_turns: int, crop, size) -> torch.Tensor:
    """(N, H, W, 3) uint8 as stored -> (N, h, w, 3) uint8 rotated, cropped and resized."""
    if quarter_turns:
        frames = torch.rot90(frames, quarter_turns, dims=(1, 2))
    if crop is not None:
        x, y, w, h = crop
        frames = frames[:, y:y + h, x:x + w]
    if size is not None and frames.shape[0] == 0:
        return frames.new_empty((0, *size, 3))
    if size is not None and tuple(frames.shape[1:3]) != size:
        chw = frames.permute(0, 3, 1, 2)
        frames = F.interpolate(chw, size=size, mode="bilinear", antialias=True,
                               align_corners=False).permute(0, 2, 3, 1)
    return frames


def arrange(frames: torch.Tensor, flip: bool, layout: str) -> torch.Tensor:
    """Flip (whole clip) and lay out (N, h, w, 3) frames; always returns a contiguous tensor."""
    if flip:
        frames = frames.flip(2)
    if layout == "TCHW":
        frames = frames.permute(0, 3, 1, 2)
    return frames.contiguous()
