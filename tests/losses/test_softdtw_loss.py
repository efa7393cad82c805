"""The procedure-aware DTW loss of PeskaVLP against a per-sample transcription of reference.md §4.3."""
import pytest
import torch
import torch.nn.functional as F

from surgvlp_fast._native import native_submodule
from surgvlp_fast.losses.softdtw import procedure_dtw_loss
from surgvlp_fast.testing import assert_close, procedure_dtw_bound

FLT_MAX = 3.4028234663852886e38


def transcribed_soft_dtw(cost, gamma, softmin):
    """R[0,0]=0; R[i,0]=R[0,j]=FLT_MAX; R[i,j] = C[i-1,j-1] + softmin(R[i,j-1], R[i-1,j-1], R[i-1,j])."""
    t, n = cost.shape
    big = cost.new_tensor(FLT_MAX)
    r = [[big] * (n + 1) for _ in range(t + 1)]
    r[0][0] = cost.new_tensor(0.0)
    for i in range(1, t + 1):
        for j in range(1, n + 1):
            nb = torch.stack([r[i][j - 1], r[i - 1][j - 1], r[i - 1][j]])
            if softmin == "prob":
                w = torch.softmax(-nb / gamma, dim=0)
                soft = (w * torch.where(w > 0, nb, torch.zeros_like(nb))).sum()
            else:
                soft = -gamma * torch.logsumexp(-nb / gamma, dim=0)
            r[i][j] = cost[i - 1, j - 1] + soft
    return r[t][n]


def transcribed_loss(frame_emb, child_emb, pos_step, gamma_f, gamma_s, normalize, beta, ratio, scale, softmin):
    """The loop of `compute_dtw_loss` (reference.md §4.3), sample by sample."""
    positives, hinges = [], []
    for i in range(frame_emb.shape[0]):
        frames = F.normalize(frame_emb[i], dim=-1)
        steps = F.normalize(child_emb[i], dim=-1)[pos_step[i] != -1]
        similarity = frames @ steps.T
        cost = -torch.log_softmax(similarity / gamma_f, dim=0 if normalize == "frames" else 1)
        a = scale * transcribed_soft_dtw(cost, gamma_s, softmin)
        b = scale * transcribed_soft_dtw(cost.flip(1), gamma_s, softmin)
        positives.append(a)
        hinges.append(torch.clamp(a - b + beta, min=0))
    return torch.stack(positives).mean() + ratio * torch.stack(hinges).mean()


BACKENDS = ["reference", pytest.param("cpu", marks=pytest.mark.skipif(
    native_submodule("dtw") is None, reason="compiled core not built or switched off"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize,margin,softmin", [("frames", 0.0, "prob"), ("texts", 0.1, "prob"),
                                                      ("texts", 0.5, "standard"), ("frames", 2.0, "standard")])
def test_loss_matches_transcription(backend, normalize, margin, softmin):
    g = torch.Generator().manual_seed(0)
    batch, frames, steps, dim = 5, 9, 6, 7
    frame_emb = torch.randn(batch, frames, dim, dtype=torch.float64, generator=g)
    child_emb = torch.randn(batch, steps, dim, dtype=torch.float64, generator=g)
    pos_step = torch.arange(steps).repeat(batch, 1)
    pos_step[torch.rand(batch, steps, generator=g) < 0.4] = -1
    pos_step[:, 2] = 2
    pos_step[3] = -1
    pos_step[3, 4] = 4  # a single step
    options = dict(gamma_f=0.2, gamma_s=0.1, normalize=normalize, margin=margin, ratio=0.7, scale=0.05,
                   softmin=softmin)
    inputs = [frame_emb.clone().requires_grad_(), child_emb.clone().requires_grad_()]
    expected = transcribed_loss(*inputs, pos_step, options["gamma_f"], options["gamma_s"], normalize, margin,
                                options["ratio"], options["scale"], softmin)
    expected.backward()
    ours = [frame_emb.clone().requires_grad_(), child_emb.clone().requires_grad_()]
    got = procedure_dtw_loss(*ours, pos_step != -1, backend=backend, **options)
    got.backward()
    bound = procedure_dtw_bound(frames, steps, dim, options["gamma_f"], options["gamma_s"])
    assert_close(got, expected, bound, scale=options["scale"] * (frames + steps) / options["gamma_f"])
    for o, e in zip(ours, inputs):
        assert_close(o.grad, e.grad, 2 * bound)


def test_defaults_are_the_released_config():
    g = torch.Generator().manual_seed(1)
    frame_emb = torch.randn(3, 8, 5, dtype=torch.float64, generator=g)
    child_emb = torch.randn(3, 4, 5, dtype=torch.float64, generator=g)
    pos_step = torch.tensor([[0, 1, 2, 3], [0, 1, -1, -1], [0, -1, -1, -1]])
    expected = transcribed_loss(frame_emb, child_emb, pos_step, 0.1, 0.1, "frames", 0.0, 0.5, 0.01, "prob")
    assert_close(procedure_dtw_loss(frame_emb, child_emb, pos_step != -1), expected, procedure_dtw_bound(8, 4, 5, 0.1, 0.1),
                 scale=0.01 * 12 / 0.1)


def test_bad_inputs_are_clear_errors(monkeypatch):
    frames, steps = torch.randn(2, 4, 3), torch.randn(2, 3, 3)
    with pytest.raises(ValueError, match="normalize='words'"):
        procedure_dtw_loss(frames, steps, normalize="words")
    with pytest.raises(ValueError, match=r"frames must be \(B, T, d\) and steps \(B, N, d\)"):
        procedure_dtw_loss(frames, steps[:1])
    mask = torch.tensor([[True, False, True], [False, False, False]])
    monkeypatch.setenv("SURGVLP_FAST_CHECK_VALUES", "1")   # a check of the mask's values
    for normalize in ("frames", "texts"):
        with pytest.raises(ValueError, match=r"sample\(s\) \[1\] have no valid step"):
            procedure_dtw_loss(frames, steps, mask, normalize=normalize)
