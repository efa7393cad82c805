"""The synthetic surgical world (decisions.md §7): `make_world(root, preset=..., seed=...)`."""
from .world import PRESETS, WorldSize, make_world

__all__ = ["PRESETS", "WorldSize", "make_world"]
