"""The dual encoder of SurgVLP / HecVL / PeskaVLP (reference.md §3): no cross-attention, one shared space.

Attribute names match the released checkpoints (`backbone_img`, `backbone_text`), so their state
dicts load without renaming.
"""
import torch
from torch import nn

MODES = ("video", "text", "all")


class DualEncoder(nn.Module):
    def __init__(self, backbone_img: nn.Module, backbone_text: nn.Module):
        super().__init__()
        self.backbone_img = backbone_img
        self.backbone_text = backbone_text

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised frames → (N, d)."""
        return self.backbone_img(frames)

    def encode_video(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) → per-frame embeddings (B, T, d) and their mean over frames (B, d)."""
        b, t = video.shape[:2]
        frame_emb = self.encode_frames(video.flatten(0, 1)).view(b, t, -1)
        return frame_emb, frame_emb.mean(dim=1)

    def encode_text(self, tokens: dict) -> torch.Tensor:
        """dict of (N, L) tensors (input_ids, attention_mask, token_type_ids) → (N, d)."""
        return self.backbone_text(tokens)

    def forward(self, video=None, text=None, mode: str = "all") -> dict:
        """mode "video": {img_emb}; "text": {text_emb}; "all": both.

        `video` is (N, 3, H, W) frames (img_emb (N, d)) or (B, T, 3, H, W) clips (img_emb the frame
        mean (B, d), plus frame_emb (B, T, d)). `text` is a token dict of (N, L) tensors, or a
        list of them (concatenated embeddings), since the pooling divides by each group's own L.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        out = {}
        if mode in ("video", "all"):
            if video is None:
                raise ValueError(f"mode {mode!r} needs video")
            if video.dim() == 5:
                out["frame_emb"], out["img_emb"] = self.encode_video(video)
            else:
                out["img_emb"] = self.encode_frames(video)
        if mode in ("text", "all"):
            if text is None:
                raise ValueError(f"mode {mode!r} needs text")
            if isinstance(text, (list, tuple)):   # groups padded to different lengths: encoded apart
                out["text_emb"] = torch.cat([self.encode_text(group) for group in text])
            else:
                out["text_emb"] = self.encode_text(text)
        return out
