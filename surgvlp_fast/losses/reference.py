"""Plain-PyTorch reference of the contrastive losses (reference.md §4): the ground truth.

Readable, device-agnostic and float64-capable; it materialises the similarity matrices, so it
is also the "naive" baseline of the benchmarks.

Every loss takes the local-loss form used for distributed training: the rows are this
process's samples (`v`, `t`, ...), the columns are the whole gathered batch (`v_all`, `t_all`,
...), and row i's positive is column `offset + i`. Without the `*_all` arguments the batch is
its own gathered batch (offset 0), which is the single-process loss. Each loss is the mean over
the local rows, so averaging the per-process losses (what DDP does to gradients) gives the
single-process loss of the global batch.
"""
import torch
import torch.nn.functional as F


def _l2n(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def _row_cross_entropy(logits: torch.Tensor, offset: int) -> torch.Tensor:
    """Mean over rows of logsumexp(row) - row[offset + i]."""
    rows = torch.arange(logits.shape[0], device=logits.device)
    return (torch.logsumexp(logits, dim=1) - logits[rows, rows + offset]).mean()


def infonce_directional(v, t, temperature=0.1, *, v_all=None, t_all=None, offset=0):
    """The two directional InfoNCE terms of S = n(v) n(t)ᵀ / τ: (CE(S), CE(Sᵀ)).

    CE(S) classifies each video row among all texts, CE(Sᵀ) each text row among all videos.
    """
    v_all = v if v_all is None else v_all
    t_all = t if t_all is None else t_all
    v_to_t = _row_cross_entropy(_l2n(v) @ _l2n(t_all).T / temperature, offset)
    t_to_v = _row_cross_entropy(_l2n(t) @ _l2n(v_all).T / temperature, offset)
    return v_to_t, t_to_v


def clip_loss(v, t, temperature=0.1, **gathered):
    """CLIP(v, t) = ½[CE(S) + CE(Sᵀ)] (`clip_infonce`)."""
    v_to_t, t_to_v = infonce_directional(v, t, temperature, **gathered)
    return 0.5 * (v_to_t + t_to_v)


def ntx_loss(v, t, alpha=0.75, temperature=0.1, **gathered):
    """NTX(v, t; α) = α·CE(S) + (1-α)·CE(Sᵀ) (`NTXentLoss`)."""
    v_to_t, t_to_v = infonce_directional(v, t, temperature, **gathered)
    return alpha * v_to_t + (1.0 - alpha) * t_to_v


def milnce_loss(v, t, *, v_all=None, t_all=None, offset=0):
    """MIL-NCE (`milnce`): v (B, d), t (B, K, d) candidates; raw dot products, no temperature.

    pos_i = logsumexp_k v_i·t_ik; den_i = logsumexp over {v_i·t_jk} ∪ {v_j·t_ik} (j over the
    gathered batch, so the positives count twice); loss = mean_i(den_i - pos_i).
    """
    if t.dim() != 3:
        raise ValueError(f"milnce_loss: t must be (B, K, d) candidates, got shape {tuple(t.shape)}")
    v_all = v if v_all is None else v_all
    t_all = t if t_all is None else t_all
    b, k, d = t.shape
    row = v @ t_all.reshape(-1, d).T                       # (B, B_all·K): v_i against every text
    col = torch.einsum("jd,ikd->ijk", v_all, t).reshape(b, -1)  # (B, B_all·K): every video against t_i
    pos = torch.einsum("id,ikd->ik", v, t)
    den = torch.logsumexp(torch.cat([row, col], dim=1), dim=1)
    return (den - torch.logsumexp(pos, dim=1)).mean()


def simclr_loss(a, b, temperature=0.1, *, a_all=None, b_all=None, offset=0):
    """SimCLR / NT-Xent between two views (`SIMCLRLoss`): 2B-way classification.

    Row i of view a is classified among [b_all | a_all] with target b_i and itself masked out;
    likewise for view b. Loss = ½[CE_a + CE_b].
    """
    a_all = a if a_all is None else a_all
    b_all = b if b_all is None else b_all
    an, bn, an_all, bn_all = _l2n(a), _l2n(b), _l2n(a_all), _l2n(b_all)
    rows = torch.arange(a.shape[0], device=a.device)
    self_mask = torch.zeros(a.shape[0], a_all.shape[0], dtype=torch.bool, device=a.device)
    self_mask[rows, rows + offset] = True

    def side(x, x_all, y_all):
        positives = x @ y_all.T / temperature
        negatives = (x @ x_all.T / temperature).masked_fill(self_mask, float("-inf"))
        return _row_cross_entropy(torch.cat([positives, negatives], dim=1), offset)

    return 0.5 * (side(an, an_all, bn_all) + side(bn, bn_all, an_all))
