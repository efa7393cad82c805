"""The training objectives of SurgVLP, HecVL and PeskaVLP (reference.md §4, weights of §4.5).

    objective = build_objective("peskavlp")                 # the released configs' behaviour
    objective = build_objective("peskavlp", **options_for("peskavlp", "paper"))
    loss, terms = objective.video(LevelEmbeddings(frames, parent, children, step_mask))

Each level returns (loss, terms): the weighted total and the unweighted named terms (detached,
for logging). The objective pools (frame mean, child mean, padded children included) and
gathers the embeddings across processes itself, once each, in the local-loss form: this
process's rows against the gathered batch, so that the mean over processes is the loss of the
global batch. The DTW term is per sample and needs no gathering. Every process's number of rows
is exchanged (one wait on the host) unless the embeddings carry it (`rows_per_rank`, as the
trainer does: its stream deals every process the same number of samples at each step).

Options (value of the released code; the paper's value where it differs):
  temperature       0.1         τ of CLIP, NTX and SimCLR
  ntx_alpha         0.75        α of NTX (video→text weight)
  clip_recipe       "auto"      "released": three views, [ℓ(v_o)+ℓ(v_1)+ℓ(v_2)+SimCLR(v_1,v_2)]/4
                                with ℓ = [CLIP+NTX+MILNCE]/3 (`SSL_VL_Loss_new`, all three
                                configs); "paper" (SurgVLP paper, `Combined_Loss`): one view,
                                ℓ(v_o); "auto": "released" for 3 views, "paper" for 1
  dtw_levels        ()          levels with the DTW term: PeskaVLP code ("video",), paper
                                ("keystep", "video"), also as a string "keystep,video";
                                a level with it is [4 terms + w·L_dtw]/5
  dtw_weight        0.1         w (`reg_weight`)
  dtw_normalize     "frames"    cost −log softmax over frames (code); paper: "texts" (Eq. 2)
  dtw_margin        0.0         hinge margin β (`dtw_beta`); paper: ϕ = 0.1
  dtw_ratio         0.5         ρ (`dtw_ratio`)
  dtw_scale         0.01        scale of the DTW values (`dtw_scale_factor`; the paper's λ)
  dtw_gamma_frames  0.1         γ_f of the cost
  dtw_gamma_steps   0.1         γ_s of the soft-min
  dtw_softmin       "prob"      `dtw_prob` (code); "standard" is Cuturi's soft-min
  backend           "auto"      kernel backend of the losses (see surgvlp_fast.backends)
"""
import dataclasses
import difflib
from dataclasses import dataclass, field

import torch

from surgvlp_fast.backends import BACKENDS
from surgvlp_fast.losses import infonce_directional, milnce_loss, simclr_loss
from surgvlp_fast.losses.distributed import gather_with_grad, row_counts
from surgvlp_fast.losses.softdtw import NORMALIZATIONS, procedure_dtw_loss
from surgvlp_fast.losses.softdtw_reference import SOFTMINS

METHODS = ("surgvlp", "hecvl", "peskavlp")
CLIP_RECIPES = ("auto", "released", "paper")
DTW_LEVELS = ("keystep", "video")
VIEW_NAMES = ("orig", "aug1", "aug2")


@dataclass
class ClipEmbeddings:
    """Clip level: views [original, aug1, aug2] (or [original]) each (B, d) frame means or
    (B, T, d) per-frame embeddings; anchor_text (B, d) (AWS); candidate_texts (B, K, d) (Whisper).
    rows_per_rank: every process's B in rank order when the caller knows it (None: exchanged)."""
    views: list
    anchor_text: torch.Tensor
    candidate_texts: torch.Tensor
    rows_per_rank: list = None


@dataclass
class LevelEmbeddings:
    """Keystep or video level: frames (B, T, d) per-frame embeddings, parent (B, d) text,
    children (B, K, d) texts in temporal order, step_mask (B, K) bool (True = real step, for the
    DTW term; None = all real); rows_per_rank as in ClipEmbeddings."""
    frames: torch.Tensor
    parent: torch.Tensor
    children: torch.Tensor
    step_mask: torch.Tensor = None
    rows_per_rank: list = None


@dataclass(frozen=True)
class ObjectiveOptions:
    temperature: float = 0.1
    ntx_alpha: float = 0.75
    clip_recipe: str = "auto"
    dtw_levels: tuple = field(default_factory=tuple)
    dtw_weight: float = 0.1
    dtw_normalize: str = "frames"
    dtw_margin: float = 0.0
    dtw_ratio: float = 0.5
    dtw_scale: float = 0.01
    dtw_gamma_frames: float = 0.1
    dtw_gamma_steps: float = 0.1
    dtw_softmin: str = "prob"
    backend: str = "auto"


_VARIANTS = {
    ("surgvlp", "code"): {},
    ("surgvlp", "paper"): {"clip_recipe": "paper"},
    ("hecvl", "code"): {},
    ("hecvl", "paper"): {},
    ("peskavlp", "code"): {"dtw_levels": ("video",)},
    ("peskavlp", "paper"): {"dtw_levels": ("keystep", "video"), "dtw_margin": 0.1, "dtw_normalize": "texts"},
}


def _closest(name, valid):
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.4)
    return f" (did you mean {match[0]!r}?)" if match else f" (valid: {', '.join(valid)})"


def _method(method: str) -> str:
    key = str(method).lower()
    if key not in METHODS:
        raise ValueError(f"unknown method {method!r}{_closest(key, METHODS)}")
    return key


def options_for(method: str, variant: str = "code") -> dict:
    """All options of `method` as a plain dict: the released code's behaviour, or the paper's."""
    if variant not in ("code", "paper"):
        raise ValueError(f"unknown variant {variant!r}{_closest(str(variant), ('code', 'paper'))}")
    return dataclasses.asdict(ObjectiveOptions(**_VARIANTS[(_method(method), variant)]))


def _validated(method: str, given: dict) -> ObjectiveOptions:
    names = [f.name for f in dataclasses.fields(ObjectiveOptions)]
    for name in given:
        if name not in names:
            raise ValueError(f"unknown {method} objective option {name!r}{_closest(name, names)}")
    options = ObjectiveOptions(**{**_VARIANTS[(method, "code")], **given})
    choices = {"clip_recipe": CLIP_RECIPES, "dtw_normalize": NORMALIZATIONS, "dtw_softmin": SOFTMINS,
               "backend": BACKENDS}
    for name, valid in choices.items():
        if getattr(options, name) not in valid:
            raise ValueError(f"option {name}={getattr(options, name)!r} is not one of {', '.join(valid)}")
    levels = options.dtw_levels
    levels = tuple(filter(None, levels.replace(" ", "").split(","))) if isinstance(levels, str) else tuple(levels)
    for level in levels:
        if level not in DTW_LEVELS:
            raise ValueError(f"option dtw_levels: unknown level {level!r}{_closest(str(level), DTW_LEVELS)}")
    if method == "surgvlp" and levels:
        raise ValueError("option dtw_levels: SurgVLP has only the clip level")
    for name in ("temperature", "dtw_gamma_frames", "dtw_gamma_steps"):
        if not getattr(options, name) > 0:
            raise ValueError(f"option {name} must be > 0, got {getattr(options, name)}")
    return dataclasses.replace(options, dtw_levels=levels)


def _gather(x: torch.Tensor, sizes: list):
    """(x gathered over the processes, offset of this process's rows); (None, 0) in a single
    process, so that the losses take their single-process path (one pass for both directions).
    sizes: every process's rows (`row_counts`, asked once per level call)."""
    x_all, offset = gather_with_grad(x, sizes)
    return (None, 0) if x_all is x else (x_all, offset)


def _check_rows(what: str, tensors: dict, dims: dict):
    batch = None
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != dims[name]:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ValueError(f"{what}: {name} must have {dims[name]} dimensions, got {shape}")
        if batch is None:
            batch, dim = tensor.shape[0], tensor.shape[-1]
        if tensor.shape[0] != batch or tensor.shape[-1] != dim:
            raise ValueError(f"{what}: {name} has shape {tuple(tensor.shape)}, expected B = {batch} rows "
                             f"and d = {dim} features like the others")


class Objective:
    """The loss terms of one method at each of its levels (`levels`)."""

    def __init__(self, method: str, options: ObjectiveOptions):
        self.method, self.options = method, options
        self.levels = ("clip",) if method == "surgvlp" else ("clip", "keystep", "video")

    def __repr__(self):
        return f"Objective({self.method!r}, {self.options})"

    def _infonce_pair(self, v, t, v_all, t_all, offset, with_ntx):
        """CLIP(v, t) and NTX(v, t; α) from the two directional terms of one similarity matrix."""
        to_text, to_video = infonce_directional(v, t, self.options.temperature, v_all=v_all, t_all=t_all,
                                                offset=offset, backend=self.options.backend)
        clip = 0.5 * (to_text + to_video)
        alpha = self.options.ntx_alpha
        return clip, (alpha * to_text + (1.0 - alpha) * to_video) if with_ntx else None

    def clip(self, emb: ClipEmbeddings):
        """Clip level (reference.md §4.1)."""
        recipe, wanted = self.options.clip_recipe, {"released": 3, "paper": 1}
        if recipe == "auto":
            recipe = {3: "released", 1: "paper"}.get(len(emb.views), recipe)
        if wanted.get(recipe) != len(emb.views):
            views = ("3 views [orig, aug1, aug2] (released) or 1 [orig] (paper)" if recipe == "auto"
                     else f"{wanted[recipe]} view(s) [{', '.join(VIEW_NAMES[:wanted[recipe]])}]")
            raise ValueError(f"{self.method} clip level (clip_recipe={self.options.clip_recipe!r}) takes "
                             f"{views}, got {len(emb.views)}")
        released = recipe == "released"
        views = [v.mean(dim=1) if v.dim() == 3 else v for v in emb.views]
        tensors = {**{f"views[{i}]": v for i, v in enumerate(views)}, "anchor_text": emb.anchor_text,
                   "candidate_texts": emb.candidate_texts}
        _check_rows("clip level", tensors, {**{f"views[{i}]": 2 for i in range(len(views))},
                                            "anchor_text": 2, "candidate_texts": 3})
        sizes = emb.rows_per_rank or row_counts(emb.anchor_text.shape[0], emb.anchor_text.device)
        text_all, offset = _gather(emb.anchor_text, sizes)
        candidates_all, _ = _gather(emb.candidate_texts, sizes)
        views_all = [_gather(v, sizes)[0] for v in views]
        terms, view_losses = {}, []
        for name, v, v_all in zip(VIEW_NAMES, views, views_all):
            clip, ntx = self._infonce_pair(v, emb.anchor_text, v_all, text_all, offset, with_ntx=True)
            mil = milnce_loss(v, emb.candidate_texts, v_all=v_all, t_all=candidates_all, offset=offset,
                              backend=self.options.backend)
            terms.update({f"clip_{name}": clip, f"ntx_{name}": ntx, f"milnce_{name}": mil})
            view_losses.append((clip + ntx + mil) / 3)
        if released:
            terms["simclr"] = simclr_loss(views[1], views[2], self.options.temperature, a_all=views_all[1],
                                          b_all=views_all[2], offset=offset, backend=self.options.backend)
            loss = (sum(view_losses) + terms["simclr"]) / 4
        else:
            loss = view_losses[0]
        return loss, {k: v.detach() for k, v in terms.items()}

    def keystep(self, emb: LevelEmbeddings):
        """Keystep (phase) level: `hier_infonce` (reference.md §4.2), + DTW in the paper's PeskaVLP."""
        return self._level("keystep", emb)

    def video(self, emb: LevelEmbeddings):
        """Video (abstract) level (reference.md §4.3): `hier_infonce`, + DTW for PeskaVLP."""
        return self._level("video", emb)

    def _level(self, level: str, emb: LevelEmbeddings):
        if level not in self.levels:
            raise ValueError(f"{self.method} has no {level} level (its levels: {', '.join(self.levels)})")
        _check_rows(f"{level} level", {"frames": emb.frames, "parent": emb.parent, "children": emb.children},
                    {"frames": 3, "parent": 2, "children": 3})
        video, children = emb.frames.mean(dim=1), emb.children.mean(dim=1)
        sizes = emb.rows_per_rank or row_counts(video.shape[0], video.device)
        video_all, offset = _gather(video, sizes)
        parent_all, _ = _gather(emb.parent, sizes)
        children_all, _ = _gather(children, sizes)
        terms = {}
        terms["clip_video_parent"], terms["ntx_video_parent"] = self._infonce_pair(
            video, emb.parent, video_all, parent_all, offset, with_ntx=True)
        terms["clip_video_children"], _ = self._infonce_pair(video, children, video_all, children_all, offset,
                                                             with_ntx=False)
        terms["clip_parent_children"], _ = self._infonce_pair(emb.parent, children, parent_all, children_all,
                                                              offset, with_ntx=False)
        loss = sum(terms.values())
        if level in self.options.dtw_levels:
            o = self.options
            terms["dtw"] = procedure_dtw_loss(
                emb.frames, emb.children, emb.step_mask, gamma_f=o.dtw_gamma_frames, gamma_s=o.dtw_gamma_steps,
                normalize=o.dtw_normalize, margin=o.dtw_margin, ratio=o.dtw_ratio, scale=o.dtw_scale,
                softmin=o.dtw_softmin, backend=o.backend)
            loss = (loss + o.dtw_weight * terms["dtw"]) / 5
        else:
            loss = loss / 4
        return loss, {k: v.detach() for k, v in terms.items()}


def build_objective(method: str, **options) -> Objective:
    """The objective of `method` ("surgvlp", "hecvl", "peskavlp"); options override the
    released code's values (see the module docstring and `options_for`)."""
    method = _method(method)
    return Objective(method, _validated(method, options))
