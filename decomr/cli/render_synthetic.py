"""``decomr render-synthetic``: pre-render a config's synthetic images once (:mod:`decomr.data.cache`)."""
from __future__ import annotations

import sys

from decomr.cli import doc_parser, fail
from decomr.data.cache import cache_status, default_workers, ensure_cache
from decomr.train.config import load_config

__all__ = ["render_synthetic_main"]


def render_synthetic_main(argv: list[str] | None = None) -> int:
    """``decomr render-synthetic``: pre-render a config's synthetic splits (see the module docstring).

    Examples::

        decomr render-synthetic --config cpu                  # data/synthetic/cpu128/train (data.cache)
        decomr render-synthetic --config cpu --split test     # also the test split
        decomr render-synthetic --config quick --out /tmp/quick data.synthetic.train_size=500

    Exit status: 0 done, 2 bad config or a folder that holds another dataset.
    """
    p = doc_parser("decomr render-synthetic", render_synthetic_main.__doc__, "Render a config's synthetic data once "
                   "into memory-mapped files (resumable), so that training gets every core.")
    p.add_argument("--config", "-c", required=True, help="training config (a file or a name in configs/)")
    p.add_argument("--split", nargs="+", default=["train"], choices=("train", "val", "test"))
    p.add_argument("--out", help="cache folder (default: the config's data.cache)")
    p.add_argument("--workers", type=int, default=default_workers(), help="rendering processes (default: every core)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config, args.overrides)
        folder = args.out or config.data.cache
        if not folder:
            raise ValueError(f"{args.config}: data.cache is not set; give --out FOLDER or data.cache=FOLDER")
        if config.data.source != "synthetic":
            raise ValueError(f"{args.config}: data.source is {config.data.source!r}; only synthetic data is rendered")
        for split in args.split:
            out = ensure_cache(config.synthetic, split, f"{folder}/{split}", workers=args.workers,
                               progress=not args.no_progress)
            done, total = cache_status(out)
            print(f"{split}: {done}/{total} samples in {out}")
    except (ValueError, FileNotFoundError) as err:
        return fail("decomr render-synthetic", err)
    return 0
