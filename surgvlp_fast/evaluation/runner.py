"""Run protocols by name on a model: the `eval` command, the demo and the trainer's hook use this."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping

from ..collectives import lockstep
from . import reports
from .options import EvalOptions
from .registry import get_protocol


def evaluate(name: str, model, tokenizer, data_root: str, options: EvalOptions = EvalOptions(), device="cpu",
             distributed: bool = False):
    """Run one protocol; returns its result object (PhaseResult, TripletResult, RetrievalResult or
    ProbeResult: each has `metrics`, `scalars(name)`, `table_rows(name)` and `table_header`).
    `distributed=True` (every rank calls) shares the videos of the zero-shot protocols among the
    ranks, and the ranks fail together: when the protocol raises on one rank, it raises on every
    rank (the others RankFailed naming it), and the group stays usable for the next protocol."""
    with lockstep(distributed):
        return get_protocol(name).run(model, tokenizer, data_root, options, device, distributed)


def metrics_of(result) -> dict:
    return result.metrics


def scalars(results: Mapping[str, object]) -> dict[str, float]:
    """Flat `protocol/metric` numbers (for TensorBoard and logs)."""
    out = {}
    for name, result in results.items():
        out.update(result.scalars(name))
    return out


def summary_table(results: Mapping[str, object], title: str = "Evaluation") -> str:
    """One table per result header (phase and probe results share theirs), in order of first appearance."""
    tables: dict[tuple, list] = {}
    for name, result in results.items():
        tables.setdefault(tuple(result.table_header), []).extend(result.table_rows(name))
    return "\n".join(reports.format_table(list(header), rows, None if i else title)
                     for i, (header, rows) in enumerate(tables.items()))


def write_report(results: Mapping[str, object], out_dir: str | os.PathLike, extra: Mapping | None = None) -> dict:
    """results.json plus each result's pictures (per phase protocol `<name>_ribbons.png` and
    `<name>_confusion.png`). Returns {what: path}."""
    out_dir = Path(out_dir)
    written = {}
    for name, result in results.items():
        written.update(result.write_pictures(out_dir, name))
    payload = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {}),
               "results": {name: r.metrics for name, r in results.items()}}
    written["json"] = reports.write_json(out_dir / "results.json", payload)
    return {k: str(v) for k, v in written.items()}


class EvaluationFailed(RuntimeError):
    """Some protocols failed: `failures` {protocol: message}; `metrics` holds those that succeeded."""

    def __init__(self, failures: Mapping[str, str], metrics: Mapping[str, float]):
        self.failures, self.metrics = dict(failures), dict(metrics)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.failures.items()))


def failure_message(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def run_protocols(model, tokenizer, eval_cfg, device="cpu", *, data_root: str | None = None,
                  distributed: bool = False) -> dict[str, float]:
    """The trainer's hook: every protocol of `eval_cfg` (`protocols`, `data_root`, `options`) on
    `model`, returning flat `protocol/metric` numbers. The model's train/eval mode is restored.
    Call it on one process, or on every rank with `distributed=True` to share the videos. A failing
    protocol does not stop the others: when any failed, EvaluationFailed is raised at the end with
    the failures and the metrics of the protocols that ran. With `distributed=True` a protocol that
    fails on one rank fails on every rank (`evaluate`), so the ranks agree on the failures and start
    the next protocol together."""
    root = data_root or getattr(eval_cfg, "data_root", "")
    if not root:
        raise ValueError("evaluation needs a data root (eval.data_root)")
    results, failures = {}, {}
    training = model.training
    for name in eval_cfg.protocols:
        try:
            options = EvalOptions.from_mapping(dict(getattr(eval_cfg, "options", {}) or {}), name)
            results[name] = evaluate(name, model, tokenizer, root, options, device, distributed)
        except Exception as err:   # noqa: BLE001 - reported with the protocol's name, the others still run
            failures[name] = failure_message(err)
        finally:
            model.train(training)
    if failures:
        raise EvaluationFailed(failures, scalars(results))
    return scalars(results)


def evaluate_and_report(names, model, tokenizer, data_root: str, options_of, device, out_dir, extra=None,
                        echo=print) -> tuple[dict, dict]:
    """The `eval` command's loop: each protocol in turn, results.json (and the pictures) rewritten as
    each one finishes, so a later failure or a kill loses nothing. A failing protocol is reported
    with its message and the others still run. `options_of(name)` -> EvalOptions. Returns
    (results, failures {name: message}); results.json lists the failures too."""
    results, failures = {}, {}
    for name in names:
        echo(f"[eval] {name} ...")
        t0 = time.perf_counter()
        try:
            results[name] = evaluate(name, model, tokenizer, data_root, options_of(name), device)
        except Exception as err:   # noqa: BLE001 - reported, counted, and the exit status says so
            failures[name] = failure_message(err)
            echo(f"[eval] {name} FAILED: {failures[name]}")
        else:
            echo(f"[eval] {name} done in {time.perf_counter() - t0:.1f} s")
        write_report(results, out_dir, extra={**(extra or {}), "failures": failures})
    return results, failures
