"""Cholec80 (reference.md §2.7): cholecystectomy videos, 7 phases, frames at 1 fps.

`cholec80/csvs/videoNN.csv` rows `videoNN_{k}.png,label` with k = 0..n-1 and labels 1-7, frames in
`cholec80/frames/`. The files are 1-indexed (CAMMA extraction), so row k is the file
`videoNN_{k+1}.png` (frame_index_offset=1, the reference's).
"""
from . import PhaseSet

CHOLEC80 = PhaseSet(folder="cholec80", csv_name="video{:02d}.csv", frame_index_offset=1)
read_video, available_videos = CHOLEC80.read_video, CHOLEC80.available_videos
