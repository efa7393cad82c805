"""`surgvlp-fast train CONFIG --work-dir DIR [--resume] [--check] [key.sub=value ...]`.

`--check` loads and validates the config (with the overrides), prints the resolved config as YAML
and exits: 0 when it is valid, 1 (one line on stderr) when not. It builds no model and reads no data.

One code path for a CPU, one GPU, torchrun and SLURM srun: the process's place in the run comes
from the environment (training/distributed.py).
"""
import os
import sys


def add_arguments(parser):
    parser.add_argument("config", help="YAML config (configs/surgvlp.yaml, hecvl.yaml, peskavlp.yaml, ...)")
    parser.add_argument("--work-dir", required=True, help="folder for config.yaml, checkpoints/, log.txt, "
                                                          "metrics.jsonl and tensorboard/")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --work-dir")
    parser.add_argument("--check", action="store_true", help="validate the config, print it resolved as YAML "
                                                             "and exit (0 valid, 1 not); nothing is built or read")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value",
                        help="config overrides, e.g. optim.lr=1e-4 train.epochs=10")


def run(args) -> int:
    from surgvlp_fast.config import to_dict
    from surgvlp_fast.training.config import load_config

    cfg = load_config(args.config, args.overrides)   # a ConfigError is reported by surgvlp_fast.cli (exit 1)
    if args.check:
        import yaml

        sys.stdout.write(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return 0

    from surgvlp_fast.models import load_tokenizer
    from surgvlp_fast.pretrain.build import build_training_data
    from surgvlp_fast.training.trainer import Trainer

    from surgvlp_fast.collectives import RankFailed
    from surgvlp_fast.training.checkpoint import CheckpointError

    tokenizer = load_tokenizer(cfg.model.text.tokenizer_path())
    try:
        with Trainer(cfg, args.work_dir, build_training_data(cfg.data, tokenizer, seed=cfg.seed, validation=bool(cfg.validation.every_epochs)), resume=args.resume) as trainer:
            status = trainer.train()
    except (CheckpointError, RankFailed) as err:   # disk full, an unreadable checkpoint, another rank's error: one line
        if args.debug or os.environ.get("SURGVLP_FAST_DEBUG") == "1":
            raise
        print(f"surgvlp-fast train: {err}", file=sys.stderr)
        return 1
    if status == "finished" and trainer.env.is_main:
        open(os.path.join(args.work_dir, "DONE"), "w").close()
    print(status)
    return 0
