"""`surgvlp-fast make-synthetic DIR`: write a synthetic surgical world in the data layout."""
from .narration import NOISE_PRESETS
from .render import VISUAL_PRESETS
from .world import PRESETS


def add_arguments(parser):
    parser.add_argument("root", metavar="DIR", help="folder to write (must be empty unless --overwrite)")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="size of the world")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--visuals", default="default", choices=sorted(VISUAL_PRESETS), help="how distinct the phases look")
    parser.add_argument("--narration-noise", default="default", choices=sorted(NOISE_PRESETS))
    parser.add_argument("--lectures", type=int, help="number of lectures (overrides the preset)")
    parser.add_argument("--size", type=int, help="frame size in pixels (overrides the preset)")
    parser.add_argument("--workers", type=int, help="processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true")


def run(args):
    from .world import make_world

    overrides = {k: v for k, v in (("lectures", args.lectures), ("size", args.size)) if v is not None}
    info = make_world(args.root, preset=args.preset, seed=args.seed, visuals=args.visuals,
                      narration_noise=args.narration_noise, workers=args.workers, overwrite=args.overwrite, **overrides)
    n_down = len(info["downstream"])
    print(f"wrote {len(info['lectures'])} lectures and {n_down} downstream videos to {args.root} "
          f"in {info['seconds']:.1f} s")
    return 0
