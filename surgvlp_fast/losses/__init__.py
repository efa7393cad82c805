"""Loss functions of SurgVLP, HecVL and PeskaVLP.

Every function takes the local-loss form (see `reference.py`): local rows against the gathered
batch (`*_all`, `offset`), or the plain single-process form without them, and
`backend="auto" | "reference" | "cpu" | "triton" | "cuda"` (see `contrastive.py`).
"""
from surgvlp_fast.losses.contrastive import (  # noqa: F401
    clip_loss,
    infonce_directional,
    milnce_loss,
    ntx_loss,
    simclr_loss,
)
from surgvlp_fast.losses.modules import CLIPLoss, InfoNCELoss, MILNCELoss, NTXLoss, SimCLRLoss  # noqa: F401
