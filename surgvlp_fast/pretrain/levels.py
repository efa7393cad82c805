"""The three pretraining levels in one table (reference.md §2.4-2.6).

Each level names the split it reads by default, the text sources its samples draw from, and the
batch keys of its two text groups: the clip level pairs a clip with its anchor narration and
candidate narrations; the keystep and video levels pair frames with a parent text and its children.
The batch keys are the reference's (`sents_0`, `sents_1`, `sents_summarize`): `sents_0` is the
anchor at the clip level and the children at the others. The datasets, the collate, the validator
and the trainer read this table.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    name: str
    split: str                 # default split file (splits/<split>.csv)
    sources: tuple             # text sources (pretrain.text_sources.TEXT_FOLDERS keys)
    first: str                 # batch key of the anchor (clip) or parent (keystep, video) texts
    second: str                # batch key of the candidates (clip) or children (keystep, video)


LEVELS = {level.name: level for level in (
    Level("clip", "train_narration", ("aws", "whisper"), first="sents_0", second="sents_1"),
    Level("keystep", "train_keystep", ("keystep", "aws", "whisper"), first="sents_summarize", second="sents_0"),
    Level("video", "train_abstract", ("abstract", "keystep"), first="sents_summarize", second="sents_0"),
)}
TEXT_KEYS = tuple(sorted({key for level in LEVELS.values() for key in (level.first, level.second)}))
# split files other than the levels' defaults, and the sources they are read with
EXTRA_SPLITS = {"val": LEVELS["clip"].sources}


def split_sources() -> dict:
    """split name -> the text sources its level reads."""
    return {**{level.split: level.sources for level in LEVELS.values()}, **EXTRA_SPLITS}
