"""Loss functions of SurgVLP, HecVL and PeskaVLP.

Every function takes the local-loss form (see `reference.py`): local rows against the gathered
batch (`*_all`, `offset`), or the plain single-process form without them.
"""
from surgvlp_fast.losses.reference import (  # noqa: F401  (fast dispatch replaces these)
    clip_loss,
    infonce_directional,
    milnce_loss,
    ntx_loss,
    simclr_loss,
)
