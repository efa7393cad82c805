"""AutoLaparo (reference.md §2.7): laparoscopic hysterectomy videos, 7 phases, frames at 1 fps.

`autolaparo/csvs/NN.csv` rows `NN_{k}.png,label` from k = 1 and labels 1-7, frames in
`autolaparo/frames/` from 1: offset 0. The reference applies +1 here too (reference.md §8 item 16),
which reads the next second's frame and fails on the last row: pass frame_index_offset=1 to
reproduce it.

`convert` writes this layout in the interchange format (interchange.py), for the field's table.
"""
from ... import resources
from . import PhaseSet
from .convert import Categories, convert_phase_set

AUTOLAPARO = PhaseSet(folder="autolaparo", csv_name="{:02d}.csv", frame_index_offset=0)
read_video, available_videos = AUTOLAPARO.read_video, AUTOLAPARO.available_videos


def convert(root: str, out_dir: str, videos=None, prompts: dict | None = None):
    """The CAMMA layout above -> `<out>/autolaparo.json` + `autolaparo_frames.txt` (task `phases`;
    prompts: the field's packaged ones unless `prompts["phases"]`)."""
    categories = Categories.from_names(resources.phase_names("autolaparo"),
                                       (prompts or {}).get("phases") or resources.class_prompts("autolaparo"))
    return convert_phase_set(AUTOLAPARO, "autolaparo", root, out_dir, categories, videos)
