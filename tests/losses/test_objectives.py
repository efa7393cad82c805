"""The objectives of SurgVLP, HecVL and PeskaVLP against a plain transcription of reference.md §4."""
import pytest
import torch
import torch.nn.functional as F

from surgvlp_fast.losses.objectives import ClipEmbeddings, LevelEmbeddings, build_objective, options_for
from surgvlp_fast.losses.softdtw_reference import soft_dtw_loop
from surgvlp_fast.testing import assert_close, norms_max, objective_bound

TAU = 0.1


# ---- transcription of reference.md §4 (independent of surgvlp_fast.losses) ----
def n(x):
    return x / x.norm(dim=-1, keepdim=True)


def ce(logits):
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))


def CLIP(v, t):
    s = n(v) @ n(t).T / TAU
    return 0.5 * (ce(s) + ce(s.T))


def NTX(v, t, alpha=0.75):
    s = n(v) @ n(t).T / TAU
    return alpha * ce(s) + (1 - alpha) * ce(s.T)


def MILNCE(v, cands):
    b, k, d = cands.shape
    x = v @ cands.reshape(b * k, d).T                      # x[i, j*K + k] = v_i · t_{j,k}
    losses = []
    for i in range(b):
        pos = torch.logsumexp(x[i, i * k:(i + 1) * k], dim=0)
        den = torch.logsumexp(torch.cat([x[i, :], x[:, i * k:(i + 1) * k].flatten()]), dim=0)
        losses.append(den - pos)
    return torch.stack(losses).mean()


def SIMCLR(a, b):
    an, bn = n(a), n(b)
    eye = torch.eye(a.shape[0], dtype=a.dtype)
    s_ab, s_ba = an @ bn.T / TAU, bn @ an.T / TAU
    s_aa, s_bb = an @ an.T / TAU - 1e9 * eye, bn @ bn.T / TAU - 1e9 * eye
    return 0.5 * (ce(torch.cat([s_ab, s_aa], dim=1)) + ce(torch.cat([s_ba, s_bb], dim=1)))


def HIER(frames, parent, children):
    v, c = frames.mean(dim=1), children.mean(dim=1)
    return [CLIP(v, parent), NTX(v, parent), CLIP(v, c), CLIP(parent, c)]


def DTW(frames, children, pos_step, normalize="frames", beta=0.0, ratio=0.5, scale=0.01):
    a_list, h_list = [], []
    for i in range(frames.shape[0]):
        f, s = n(frames[i]), n(children[i])[pos_step[i] != -1]
        cost = -torch.log_softmax(f @ s.T / 0.1, dim=0 if normalize == "frames" else 1)
        a = scale * soft_dtw_loop(cost[None], None, 0.1, "prob")[0]
        b = scale * soft_dtw_loop(cost.flip(1)[None], None, 0.1, "prob")[0]
        a_list.append(a)
        h_list.append(torch.clamp(a - b + beta, min=0))
    return torch.stack(a_list).mean() + ratio * torch.stack(h_list).mean()


# ---- inputs ----
def leaves(*shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, dtype=torch.float64, generator=g).requires_grad_() for s in shapes]


def grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


def assert_same(got_loss, expected_loss, tensors):
    bound, logits = objective_bound(tensors, D, B, K), max(1 / TAU, norms_max(tensors) ** 2)
    assert_close(got_loss, expected_loss, bound, scale=logits)   # losses cancel at the logits' size
    for g, e, t in zip(grads(got_loss, tensors), grads(expected_loss, tensors), tensors):
        # a gradient's terms: probabilities times a logit's derivative (at most its size / |row|), over B rows
        assert_close(g, e, 2 * bound, scale=logits / t.detach().norm(dim=-1).min().item())


B, D, K = 6, 8, 2


@pytest.mark.parametrize("method", ["surgvlp", "hecvl", "peskavlp"])
def test_released_clip_level(method):
    tensors = leaves((B, 4, D), (B, 4, D), (B, 4, D), (B, D), (B, K, D))
    frames_o, frames_1, frames_2, anchor, cands = tensors
    loss, terms = build_objective(method).clip(ClipEmbeddings([frames_o, frames_1, frames_2], anchor, cands))
    views = [f.mean(dim=1) for f in (frames_o, frames_1, frames_2)]
    per_view = [(CLIP(v, anchor) + NTX(v, anchor) + MILNCE(v, cands)) / 3 for v in views]
    expected = (sum(per_view) + SIMCLR(views[1], views[2])) / 4
    assert_same(loss, expected, tensors)
    assert_close(terms["milnce_aug2"], MILNCE(views[2], cands), objective_bound(tensors, D, B, K),
                 scale=max(1 / TAU, norms_max(tensors) ** 2))
    assert_close(terms["simclr"], SIMCLR(views[1], views[2]), objective_bound(tensors, D, B, K),
                 scale=max(1 / TAU, norms_max(tensors) ** 2))
    assert sorted(terms) == sorted([f"{t}_{v}" for t in ("clip", "ntx", "milnce") for v in ("orig", "aug1", "aug2")]
                                   + ["simclr"])


def test_surgvlp_paper_clip_level_has_one_view_and_no_simclr():
    tensors = leaves((B, D), (B, D), (B, 3, D), seed=1)
    video, anchor, cands = tensors
    objective = build_objective("surgvlp", **options_for("surgvlp", "paper"))
    loss, terms = objective.clip(ClipEmbeddings([video], anchor, cands))
    assert_same(loss, (CLIP(video, anchor) + NTX(video, anchor) + MILNCE(video, cands)) / 3, tensors)
    assert sorted(terms) == ["clip_orig", "milnce_orig", "ntx_orig"]
    with pytest.raises(ValueError, match=r"takes 1 view\(s\) \[orig\], got 3"):
        objective.clip(ClipEmbeddings([video] * 3, anchor, cands))
    auto_loss, _ = build_objective("surgvlp").clip(ClipEmbeddings([video], anchor, cands))  # recipe by views
    torch.testing.assert_close(auto_loss, loss, rtol=0, atol=0)   # the same recipe
    with pytest.raises(ValueError, match=r"clip_recipe='auto'\) takes 3 views \[orig, aug1, aug2\] "
                                         r"\(released\) or 1 \[orig\] \(paper\), got 2"):
        build_objective("hecvl").clip(ClipEmbeddings([video] * 2, anchor, cands))
    with pytest.raises(ValueError, match=r"clip_recipe='released'\) takes 3 view"):
        build_objective("hecvl", clip_recipe="released").clip(ClipEmbeddings([video], anchor, cands))


@pytest.mark.parametrize("method,level", [("hecvl", "keystep"), ("hecvl", "video"), ("peskavlp", "keystep")])
def test_hier_infonce_levels(method, level):
    tensors = leaves((B, 5, D), (B, D), (B, 3, D), seed=2)
    frames, parent, children = tensors
    mask = torch.ones(B, 3, dtype=torch.bool)
    mask[0, 2] = False  # the mask only matters for DTW: padded children still enter the child mean
    loss, terms = getattr(build_objective(method), level)(LevelEmbeddings(frames, parent, children, mask))
    expected = HIER(frames, parent, children)
    assert_same(loss, sum(expected) / 4, tensors)
    assert list(terms) == ["clip_video_parent", "ntx_video_parent", "clip_video_children", "clip_parent_children"]


def video_inputs(seed):
    tensors = leaves((B, 7, D), (B, D), (B, 5, D), seed=seed)
    pos_step = torch.arange(5).repeat(B, 1)
    pos_step[1, 3:] = -1
    pos_step[2, 1:] = -1   # a single step
    pos_step[4, 2:] = -1
    return tensors, pos_step


def test_peskavlp_video_level_code():
    tensors, pos_step = video_inputs(3)
    frames, parent, children = tensors
    loss, terms = build_objective("peskavlp").video(LevelEmbeddings(frames, parent, children, pos_step != -1))
    dtw = DTW(frames, children, pos_step)
    assert_same(loss, (sum(HIER(frames, parent, children)) + 0.1 * dtw) / 5, tensors)
    assert_close(terms["dtw"], dtw, objective_bound(tensors, D, B, K),
                 scale=max(1 / TAU, norms_max(tensors) ** 2))


@pytest.mark.parametrize("level", ["keystep", "video"])
def test_peskavlp_paper_has_dtw_at_both_levels_with_margin_and_text_normalisation(level):
    tensors, pos_step = video_inputs(4)
    frames, parent, children = tensors
    objective = build_objective("peskavlp", **options_for("peskavlp", "paper"))
    loss, _ = getattr(objective, level)(LevelEmbeddings(frames, parent, children, pos_step != -1))
    dtw = DTW(frames, children, pos_step, normalize="texts", beta=0.1)
    assert_same(loss, (sum(HIER(frames, parent, children)) + 0.1 * dtw) / 5, tensors)


def test_options_change_the_terms():
    tensors, pos_step = video_inputs(5)
    frames, parent, children = tensors
    objective = build_objective("peskavlp", ntx_alpha=0.3, temperature=0.1, dtw_weight=2.0, dtw_ratio=1.5,
                                dtw_scale=0.2, dtw_margin=0.05, dtw_levels=["video"])
    loss, _ = objective.video(LevelEmbeddings(frames, parent, children, pos_step != -1))
    v, c = frames.mean(dim=1), children.mean(dim=1)
    infonce = CLIP(v, parent) + NTX(v, parent, 0.3) + CLIP(v, c) + CLIP(parent, c)
    dtw = DTW(frames, children, pos_step, beta=0.05, ratio=1.5, scale=0.2)
    assert_same(loss, (infonce + 2.0 * dtw) / 5, tensors)


def test_hecvl_video_level_has_no_dtw():
    tensors, pos_step = video_inputs(6)
    _, terms = build_objective("hecvl").video(LevelEmbeddings(*tensors, pos_step != -1))
    assert "dtw" not in terms


def test_options_and_errors(monkeypatch):
    code, paper = options_for("peskavlp"), options_for("PeskaVLP", "paper")
    assert code["dtw_levels"] == ("video",) and code["dtw_margin"] == 0.0 and code["dtw_normalize"] == "frames"
    assert paper["dtw_levels"] == ("keystep", "video") and paper["dtw_margin"] == 0.1
    assert paper["dtw_normalize"] == "texts" and options_for("surgvlp", "paper")["clip_recipe"] == "paper"
    assert build_objective("hecvl", **options_for("hecvl")).levels == ("clip", "keystep", "video")
    with pytest.raises(ValueError, match="did you mean 'dtw_margin'"):
        build_objective("peskavlp", dtw_margn=0.1)
    with pytest.raises(ValueError, match="did you mean 'peskavlp'"):
        build_objective("peskavpl")
    with pytest.raises(ValueError, match="did you mean 'paper'"):
        options_for("hecvl", "papr")
    with pytest.raises(ValueError, match="dtw_normalize='words' is not one of frames, texts"):
        build_objective("peskavlp", dtw_normalize="words")
    assert build_objective("peskavlp", dtw_levels="keystep, video").options.dtw_levels == ("keystep", "video")
    with pytest.raises(ValueError, match="backend='gpu' is not one of auto, reference"):
        build_objective("hecvl", backend="gpu")
    with pytest.raises(ValueError, match="unknown level 'phase'"):
        build_objective("peskavlp", dtw_levels=("phase",))
    with pytest.raises(ValueError, match="SurgVLP has only the clip level"):
        build_objective("surgvlp", dtw_levels="video")
    frames, parent, children = leaves((B, 5, D), (B, D), (B, 3, D))
    with pytest.raises(ValueError, match="surgvlp has no keystep level"):
        build_objective("surgvlp").keystep(LevelEmbeddings(frames, parent, children))
    with pytest.raises(ValueError, match=r"children has shape \(4, 3, 8\), expected B = 6 rows"):
        build_objective("hecvl").video(LevelEmbeddings(frames, parent, children[:4]))
    with pytest.raises(ValueError, match="frames must have 3 dimensions"):
        build_objective("hecvl").video(LevelEmbeddings(parent, parent, children))
    mask = torch.ones(B, 3, dtype=torch.bool)
    mask[2] = False
    monkeypatch.setenv("SURGVLP_FAST_CHECK_VALUES", "1")   # a check of the mask's values
    with pytest.raises(ValueError, match=r"sample\(s\) \[2\] have no valid step"):
        build_objective("peskavlp").video(LevelEmbeddings(frames, parent, children, mask))
