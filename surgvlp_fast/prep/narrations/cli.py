"""`surgvlp-fast narrations import|transcribe`: narration CSVs (reference.md §2.1) from ASR outputs or videos.

    surgvlp-fast narrations import SOURCE OUT_DIR --format aws|whisper|srt|vtt
    surgvlp-fast narrations transcribe VIDEO_DIR OUT_DIR --engine pocketsphinx|whisper|faster-whisper [--model DIR]

OUT_DIR is a narration folder of the data folder, e.g. data/aws_narration_texts or
data/whisper_narration_texts; each video id gets OUT_DIR/{video_id}.csv (`start,end,text`).
"""
import argparse

from ...config import parse_shard
from ..shards import add_shard_arguments
from .formats import FORMATS
from .transcribe import ENGINES


def add_arguments(parser):
    # Each action has its own options. argparse's parse_intermixed_args (the other commands' parser)
    # refuses sub-parsers; the action parsers below take options and positionals in any order themselves.
    parser.parse_intermixed_args = parser.parse_args
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    debug = dict(action="store_true", default=argparse.SUPPRESS, help="show the Python traceback of an error")

    imp = actions.add_parser("import", help="convert AWS Transcribe / Whisper JSON, SRT or WebVTT files",
                             description="Convert ASR outputs into narration CSVs; the video id is the file "
                                         "name up to its first '.'; existing CSVs of the same ids are replaced.")
    imp.add_argument("source", metavar="SOURCE", help="a file, or a folder of files of the format")
    imp.add_argument("out_dir", metavar="OUT_DIR", help="narration folder to write {video_id}.csv into")
    imp.add_argument("--format", required=True, choices=FORMATS)
    imp.add_argument("--sentences", action="store_true",
                     help="join Whisper segments / caption cues into sentences at . ? ! (AWS words are always grouped)")
    imp.add_argument("--pause", type=float, default=1.5, metavar="S",
                     help="aws: a pause longer than this ends a sentence (default 1.5)")
    imp.add_argument("--max-sentence", type=float, default=30.0, metavar="S",
                     help="a sentence is closed once it is this long (aws, --sentences; default 30)")
    imp.add_argument("--raw-text", action="store_true",
                     help="keep case and punctuation (default: lower case without punctuation, as the seed's CSVs)")
    imp.add_argument("--debug", **debug)

    tr = actions.add_parser("transcribe", help="transcribe the audio of videos with a local ASR engine",
                            description="Transcribe every video of VIDEO_DIR (one at a time; videos whose CSV "
                                        "exists are skipped, so a stopped run resumes).")
    tr.add_argument("video_dir", metavar="VIDEO_DIR")
    tr.add_argument("out_dir", metavar="OUT_DIR", help="narration folder to write {video_id}.csv into")
    tr.add_argument("--engine", required=True, choices=ENGINES)
    tr.add_argument("--model", metavar="DIR", help="whisper: a transformers Whisper folder; faster-whisper: a CTranslate2 folder")
    tr.add_argument("--batch-size", type=int, help="whisper: 30 s windows decoded together (default 8)")
    tr.add_argument("--device", help="whisper engines: cpu, cuda, cuda:1 (default: cuda when available)")
    tr.add_argument("--max-new-tokens", type=int, help="whisper: most tokens decoded per 30 s window (default 440)")
    tr.add_argument("--language", help="whisper engines: language code, e.g. en (default: detected)")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_shard_arguments(tr)
    tr.add_argument("--debug", **debug)


def run(args) -> int:
    if args.action == "import":
        from .formats import import_narrations

        counts = import_narrations(args.source, args.out_dir, args.format, raw_text=args.raw_text,
                                   sentences=args.sentences, pause_s=args.pause, max_sentence_s=args.max_sentence)
        for video_id, n in counts.items():
            print(f"{video_id}: {n} rows")
        print(f"{len(counts)} narration CSV(s) written to {args.out_dir}")
        return 0
    from .transcribe import make_engine, transcribe_folder

    shard = parse_shard(args.shard)
    engine = make_engine(args.engine, args.model, args.batch_size, args.device, args.language, args.max_new_tokens)
    done = transcribe_folder(args.video_dir, args.out_dir, engine, progress=not args.no_progress, shard=shard)
    part = f" (shard {args.shard})" if args.shard is not None else ""
    print(f"{len(done['written'])} transcribed, {len(done['skipped'])} already there, in {args.out_dir}{part}")
    return 0
