"""Narration CSVs for the data folder: import of ASR outputs (formats.py), local transcription
(transcribe.py), and the `surgvlp-fast narrations` command (cli.py)."""
