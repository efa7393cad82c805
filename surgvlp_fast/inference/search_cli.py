"""`surgvlp-fast search`: the moments of an index's videos that match a text (video, start, end,
score; adjacent seconds merged), as a table or JSON, with an optional contact sheet of the hits.

    surgvlp-fast search library.index "the clipper clips the cystic duct" --top 10 --thumbnails hits.png
"""
from __future__ import annotations

import json
import os

from .options import add_model_arguments, one_line, resolve_device, say, text_model_overrides


def add_arguments(parser):
    parser.add_argument("index", help="an index folder (`surgvlp-fast index`)")
    parser.add_argument("text", help="what to find; several phrasings separated by ' | ' are averaged")
    parser.add_argument("--top", type=int, default=10, help="moments to return (default 10)")
    parser.add_argument("--thumbnails", default=None, metavar="FILE.png", help="write a contact sheet of the hits")
    parser.add_argument("--json", action="store_true", help="print the moments as JSON")
    parser.add_argument("--checkpoint", default=None, help="the model (default: the checkpoint the index records)")
    add_model_arguments(parser)


def load_checkpoint(args, device, echo: bool):
    from surgvlp_fast.hub import config_for, load_model

    return load_model(args.checkpoint, config_for(args.checkpoint, args.config), text_model_overrides(args), device,
                      echo=say if echo else None)


def shown(path: str) -> str:
    """`path` relative to here when below here."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def run(args) -> int:
    from .index import IndexMismatchError

    try:
        return search(args)
    except IndexMismatchError as e:
        return one_line("search", e, args)


def search(args) -> int:
    from surgvlp_fast.config import ConfigError

    from .index import Index

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, got {args.top}")
    if not args.text.replace("|", "").strip():
        raise ConfigError("the search text is empty")
    index = Index(args.index)
    checkpoint = args.checkpoint or index.meta.get("checkpoint")
    if not checkpoint:
        raise ConfigError(f"{args.index}: records no checkpoint; pass --checkpoint")
    args.checkpoint = checkpoint
    model, tokenizer, _ = load_checkpoint(args, resolve_device(args.device), echo=not args.json)
    index.check_model(model)
    moments = index.search(model, tokenizer, args.text, top=args.top, check=False)
    if args.json:
        print(json.dumps([m.as_dict() for m in moments], indent=1))
    else:
        from surgvlp_fast.evaluation.reports import format_table

        rows = [[i + 1, shown(m.video), f"{m.start:.0f}", f"{m.end:.0f}", f"{m.score:.4f}"]
                for i, m in enumerate(moments)]
        print(format_table(["#", "video", "start s", "end s", "score"], rows, title=f"search: {args.text}"))
    if args.thumbnails:
        from .sheet import contact_sheet

        say(f"contact sheet: {contact_sheet(args.thumbnails, moments, args.text)}")
    return 0
