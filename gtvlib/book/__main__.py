"""Command line: ``python -m gtvlib.book run|build|params|sweep``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gtvlib.util.errors import GtvError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gtvlib.book", description=__doc__)
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: found from the current folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute the notebooks with papermill into _build/executed/")
    run.add_argument("--profile", default="quick", help="parameter set from profiles.yaml (quick or paper)")
    run.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks (file stems)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a parameter in every selected notebook that declares it")
    progress = run.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None, help="per-cell progress bars")
    progress.add_argument("--no-progress", dest="progress", action="store_false", help="one line per notebook")
    commands.add_parser("build", help="render _build/html from the executed notebooks (no execution)")
    commands.add_parser("params", help="list every notebook's parameters with type, default and help")
    sweep = commands.add_parser("sweep", help="train a grid of configurations × seeds into runs/<sweep>/ (resumable)")
    sweep.add_argument("name", help="ablation, loss_weights or baselines")
    sweep.add_argument("--profile", default="quick", help="training settings from profiles.yaml (quick or paper)")
    sweep.add_argument("--seeds", nargs="+", type=int, metavar="SEED", help="training seeds (default: the profile's)")
    sweep.add_argument("--only", nargs="+", metavar="CONFIG", help="only these configurations of the grid")
    sweep.add_argument("--epochs", type=int, help="override the profile's epoch count")
    sweep.add_argument("--workers", type=int, default=1, help="runs trained at once in separate processes (default 1)")
    args = parser.parse_args(argv)

    from gtvlib.util.paths import project_root

    try:
        root = (args.root.resolve() if args.root else project_root())
        if args.command == "run":
            from gtvlib.book.runner import run_book

            results = run_book(root, args.profile, args.only, [tuple(p) for p in args.parameter], args.progress)
            return 0 if all(r.status == "ok" for r in results) else 1
        if args.command == "build":
            from gtvlib.book.build import build_book

            index = build_book(root)
            print(f"gtv-book: the book is at {index}")
            return 0
        if args.command == "sweep":
            from gtvlib.sweeps import main_sweep

            return main_sweep(args.name, args.profile, args.seeds, args.only, args.epochs, root, args.workers)
        if args.command == "params":
            from gtvlib.book.profiles import declared_parameters
            from gtvlib.book.project import toc_notebooks

            for notebook in toc_notebooks(root):
                print(notebook.relative_to(root))
                for name, info in declared_parameters(notebook).items():
                    print(f"  {name}: {info['inferred_type_name']} = {info['default']}  # {info['help']}")
            return 0
    except GtvError as exc:
        print(f"gtv-book: error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
