"""nn.Module forms of the contrastive losses (same arguments as the functions in contrastive.py).

    loss = MILNCELoss()(v, t)                                      # single process
    loss = CLIPLoss(temperature=0.1)(v, t, v_all=v_all, t_all=t_all, offset=offset)   # local form
"""
from torch import nn

from surgvlp_fast.losses import contrastive


class InfoNCELoss(nn.Module):
    """Returns the two directional terms (CE(S), CE(Sᵀ))."""

    def __init__(self, temperature: float = 0.1, backend: str = "auto"):
        super().__init__()
        self.temperature, self.backend = temperature, backend

    def forward(self, v, t, **gathered):
        return contrastive.infonce_directional(v, t, self.temperature, backend=self.backend, **gathered)

    def extra_repr(self):
        return f"temperature={self.temperature}, backend={self.backend!r}"


class CLIPLoss(InfoNCELoss):
    def forward(self, v, t, **gathered):
        return contrastive.clip_loss(v, t, self.temperature, backend=self.backend, **gathered)


class NTXLoss(nn.Module):
    def __init__(self, alpha: float = 0.75, temperature: float = 0.1, backend: str = "auto"):
        super().__init__()
        self.alpha, self.temperature, self.backend = alpha, temperature, backend

    def forward(self, v, t, **gathered):
        return contrastive.ntx_loss(v, t, self.alpha, self.temperature, backend=self.backend, **gathered)

    def extra_repr(self):
        return f"alpha={self.alpha}, temperature={self.temperature}, backend={self.backend!r}"


class MILNCELoss(nn.Module):
    def __init__(self, backend: str = "auto"):
        super().__init__()
        self.backend = backend

    def forward(self, v, t, **gathered):
        return contrastive.milnce_loss(v, t, backend=self.backend, **gathered)

    def extra_repr(self):
        return f"backend={self.backend!r}"


class SimCLRLoss(InfoNCELoss):
    def forward(self, a, b, **gathered):
        return contrastive.simclr_loss(a, b, self.temperature, backend=self.backend, **gathered)
