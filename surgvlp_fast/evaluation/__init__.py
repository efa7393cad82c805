"""Frozen evaluation protocols (reference.md §6): zero-shot phase recognition, CholecT50 triplets,
retrieval, linear probe / few-shot, with metrics, reports and the `eval` command.

The trainer's hook is `run_protocols(model, tokenizer, eval_cfg, device)` (docs/evaluation.md).
"""
from .downstream import DownstreamVideo
from .options import EvalOptions
from .protocols import Protocol
from .registry import PROTOCOLS, get_protocol
from .runner import evaluate, run_protocols, scalars, summary_table, write_report

__all__ = ["DownstreamVideo", "EvalOptions", "PROTOCOLS", "Protocol", "get_protocol", "evaluate", "run_protocols", "scalars", "summary_table", "write_report"]
