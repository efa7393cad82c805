"""Shared inputs for the contrastive-loss tests: fresh random tensors of odd shapes, in the
single-process and the local (gathered) form."""
import os

import pytest
import torch

from surgvlp_fast._native import native_submodule
from surgvlp_fast.backends import triton_available

LOSSES = ("milnce_loss", "clip_loss", "ntx_loss", "simclr_loss", "infonce_directional")

needs_native = pytest.mark.skipif(
    native_submodule("losses") is None,
    reason="the compiled core is hidden (SURGVLP_FAST_DISABLE_NATIVE=1) or not built: no 'cpu' backend")


needs_triton = pytest.mark.skipif(
    not triton_available(), reason="Triton needs a GPU or TRITON_INTERPRET=1 (tests/conftest.py sets it)")


def fresh_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


def make_case(loss: str, rows: int, width: int, k: int, dtype, *, local: bool, seed: int):
    """(leaves, build): the leaf tensors to differentiate, and build(*leaves) -> (args, kwargs)
    of the loss.

    Local form: this process holds `rows` rows at offset `rows + 1` of a gathered batch of
    3·rows + 2, the other rows being tensors of their own (as after gather_with_grad).
    """
    gen = torch.Generator().manual_seed(seed)

    def leaf(*shape):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * 1.5).to(dtype).requires_grad_()

    cand = (k,) if loss == "milnce_loss" else ()
    leaves = [leaf(rows, width), leaf(rows, *cand, width)]
    if not local:
        return leaves, lambda first, second: ((first, second), {})
    offset = rows + 1
    leaves += [leaf(offset, width), leaf(rows + 1, width), leaf(offset, *cand, width), leaf(rows + 1, *cand, width)]
    names = ("a_all", "b_all") if loss == "simclr_loss" else ("v_all", "t_all")

    def build(first, second, first_before, first_after, second_before, second_after):
        kwargs = {names[0]: torch.cat([first_before, first, first_after]),
                  names[1]: torch.cat([second_before, second, second_after]), "offset": offset}
        return (first, second), kwargs

    return leaves, build


def as_tuple(out):
    return out if isinstance(out, tuple) else (out,)
