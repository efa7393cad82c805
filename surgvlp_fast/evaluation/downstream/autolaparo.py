"""AutoLaparo (reference.md §2.7): laparoscopic hysterectomy videos, 7 phases, frames at 1 fps.

`autolaparo/csvs/NN.csv` rows `NN_{k}.png,label` from k = 1 and labels 1-7, frames in
`autolaparo/frames/` from 1: offset 0. The reference applies +1 here too (reference.md §8 item 16),
which reads the next second's frame and fails on the last row: pass frame_index_offset=1 to
reproduce it.
"""
from . import PhaseSet

AUTOLAPARO = PhaseSet(folder="autolaparo", csv_name="{:02d}.csv", frame_index_offset=0)
read_video, available_videos = AUTOLAPARO.read_video, AUTOLAPARO.available_videos
