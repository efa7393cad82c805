"""Resuming a checkpoint on another world (another number of processes or per-process batch sizes).

A checkpoint of the same world comes back bit for bit (Trainer.load_state_dict). One of another
world goes on from the global position of every level stream's pass: the rest of the pass is dealt
out over this world's ranks (nothing repeated or skipped), the rest of the current epoch is
re-planned from what the streams have left, and every rank re-seeds its RNG streams from
(seed, rank, step) (training/rng.py). The cosine schedule is then laid over the steps that remain.
"""
from surgvlp_fast.pretrain.stream import LevelStream
from surgvlp_fast.training import checkpoint as ckpt
from surgvlp_fast.training.rng import reseed
from surgvlp_fast.training.schedule import epoch_plan


def written_by_this_world(state: dict, world_size: int, streams: dict[str, LevelStream]) -> bool:
    """The checkpoint `state` was written with this number of processes and per-process batch sizes."""
    saved = state["ranks"][0]["streams"]
    return state["world_size"] == world_size and all(
        saved[lv].get("batch_size", streams[lv].sampler.batch_size) == streams[lv].sampler.batch_size
        for lv in streams)


def continue_on_this_world(trainer, state: dict, schedule: dict) -> tuple[tuple, tuple]:
    """Move `trainer`, whose progress is already the checkpoint's, onto the checkpoint `state` of
    another world (`schedule`: its schedule entry). Returns the resumed epoch's (epoch, plan) and
    the schedule's base (epoch, run steps before it)."""
    ranks = state["ranks"]
    for level, stream in trainer.streams.items():
        positions = {(r["streams"][level]["epoch"], r["streams"][level].get("position")) for r in ranks}
        if len(positions) != 1 or None in {pos for _, pos in positions}:
            raise ckpt.CheckpointError(f"the checkpoint's {level} stream positions differ between ranks "
                                       f"({sorted(positions)}) or are missing: it cannot move to another world")
        stream.load_state_dict(ranks[0]["streams"][level])
    cfg, env, p = trainer.cfg, trainer.env, trainer.progress
    reseed(cfg.seed, env.rank, p.step, trainer.view_generator)
    old_lengths = schedule.get("lengths")
    old_plan = [tuple(s) for s in schedule["plan"]] if schedule.get("plan") else None
    if old_plan is None:
        if old_lengths is None:
            raise ckpt.CheckpointError("the checkpoint predates resuming on another world (no schedule entry)")
        sc = cfg.schedule
        old_plan = epoch_plan(p.epoch, old_lengths, sc.mode, sc.every, sc.batches, cfg.train.accumulate)
    rest = rest_of_epoch(p.epoch, old_plan, p.epoch_step, trainer.streams, cfg.schedule, cfg.train.accumulate)
    plan = old_plan[:p.epoch_step] + rest
    trainer.log.line(f"resuming a checkpoint of {state['world_size']} process(es) on {env.world_size}: "
                     + ", ".join(f"{lv} pass {st.sampler.epoch} from sample {st.sampler.offset} of {len(st.dataset)}"
                                 for lv, st in trainer.streams.items())
                     + f"; {len(plan) - p.epoch_step} steps left in epoch {p.epoch}; "
                     "RNG streams re-seeded from (seed, rank, step)")
    return (p.epoch, plan), (p.epoch, p.step - p.epoch_step)


def rest_of_epoch(epoch: int, old_plan: list, done: int, streams: dict[str, LevelStream], schedule,
                  accumulate: int) -> list[tuple[str, int]]:
    """The steps left in `epoch` on this world, from what each level stream has left of its pass
    (`old_plan`: the epoch's plan on the old world, `done` of its steps taken; `schedule`: cfg.schedule;
    `streams` in level order)."""
    levels = list(streams)
    anchor, others = levels[0], levels[1:]
    left = {lv: streams[lv].remaining() for lv in levels}
    finished = {lv for lv in levels if not any(level == lv for level, _ in old_plan[done:])}
    runs = []
    if schedule.mode == "epoch":
        runs.append((anchor, left[anchor] if anchor not in finished else 0))
        runs += [(lv, left[lv]) for lv in others
                 if epoch != 0 and epoch % schedule.every[lv] == 0 and lv not in finished]
    else:   # batch: the other levels' batches of the round under way, then rounds over what the anchor has left
        for level, n in old_plan[done:]:
            if level == anchor:
                break
            runs.append((level, n))
        remaining = left[anchor] if anchor not in finished else 0
        while remaining > 0:
            take = min(schedule.batches[anchor], remaining)
            runs.append((anchor, take))
            remaining -= take
            runs += [(lv, schedule.batches[lv]) for lv in others]
    steps = []
    for level, n in runs:
        full, rest = divmod(n, accumulate)
        steps += [(level, accumulate)] * full + ([(level, rest)] if rest else [])
    return steps
