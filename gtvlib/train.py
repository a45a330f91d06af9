"""``python -m gtvlib.train --config run.yaml`` (also under ``torchrun``): any route with any objective from one file.

The loop and its parts are :mod:`gtvlib.training`; the file's form is :mod:`gtvlib.training.command`.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Train the run a configuration file describes (:func:`gtvlib.training.command.main`)."""
    from gtvlib.training.command import main as command

    return command(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
