"""Packaged data of the downstream sets, below everything that reads it: phase names, class prompts
(in our own wording: the papers' prompt files are not shipped, a user passes their copy, e.g.
`eval -o prompts=FILE`), the video splits, the CholecT50 vocabulary, triplet prompts and triplet map.

The files sit beside this module and ship with the package (setup.py's package_data).
"""
import json
import os

RESOURCE_DIR = os.path.dirname(os.path.abspath(__file__))

# One prompt per phase, our own wording: the protocols', predict's and the converters' default
# (HeiChole shares Cholec80's phases)
PROMPT_FILES = {"cholec80": "cholec80_prompts.txt", "autolaparo": "autolaparo_prompts.txt"}
PHASE_FILES = {"cholec80": "cholec80_phases.txt", "autolaparo": "autolaparo_phases.txt"}


def resource_path(name: str) -> str:
    return os.path.join(RESOURCE_DIR, name)


def read_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def class_prompts(dataset: str) -> list[str]:
    """Our packaged prompts: one per class, in class order (the layout of reference.md §2.7's files)."""
    return read_lines(resource_path(PROMPT_FILES[dataset]))


def phase_names(dataset: str) -> list[str]:
    return read_lines(resource_path(PHASE_FILES[dataset]))


def split_videos(dataset: str, split: str = "test") -> list[int]:
    """Video numbers of a split: Cholec80 test 49-80, AutoLaparo test 15-21, CholecT50 test/val lists."""
    with open(resource_path("splits.json")) as f:
        value = json.load(f)[dataset][split]
    if dataset == "cholect50":
        return list(value)
    first, last = value
    return list(range(first, last + 1))


def cholect50_vocabulary() -> dict[str, list[str]]:
    """Class names of the four CholecT50 classifiers, in label-column order.

    Triplets are `instrument,verb,target` (ids 0-99, the official mapping that ivtmetrics uses).
    The reference's zero-shot texts misspell `grasper` as `grapser`; we do not.
    """
    triplets = [line.split(":", 1)[1] for line in read_lines(resource_path("cholect50_triplets.txt"))]
    return {
        "instrument": read_lines(resource_path("cholect50_instruments.txt")),
        "verb": read_lines(resource_path("cholect50_verbs.txt")),
        "target": read_lines(resource_path("cholect50_targets.txt")),
        "triplet": triplets,
    }


def read_triplet_prompts(path: str | None = None) -> list[str]:
    """Triplet prompt file (`id:sentence` per line) -> 100 texts, as the reference reads it:
    the part after the last ':', with ',' and '_' replaced by spaces."""
    lines = read_lines(path or resource_path("cholec_triplet.txt"))
    return [line.rsplit(":", 1)[-1].replace(",", " ").replace("_", " ").strip() for line in lines]
