"""``python -m gtvlib.segment INPUT --out OUTPUT --model RUN [--prompt box=…|click=…] [--boxes-from RUN]``

Segments the GTV on the CT series in INPUT and writes OUTPUT/RTSTRUCT_GTV-auto.dcm, OUTPUT/SEG_GTV-auto.dcm,
OUTPUT/qa.png and OUTPUT/summary.json (see :mod:`gtvlib.segment`). Exit status 0 on success, 2 with one
line naming the problem on bad input.
"""

from __future__ import annotations

import argparse
import sys

from gtvlib.util.errors import GtvError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gtvlib.segment",
        description="Segment the lung-tumour GTV on a CT series and export an RT Structure Set and a DICOM SEG "
                    "that reference it (ROI GTV-auto, generated AUTOMATIC).",
        epilog="Prompts are in patient coordinates (mm, DICOM LPS, as a planning system shows them). A prompt-free "
               "model needs none; SAM-Med2D (GTV-SAMGAN) needs --prompt or --boxes-from. Models are run folders "
               "written by training (runs/…), e.g. chapter 3's GTV-SAMGAN run and chapter 4's baselines.")
    p.add_argument("input", help="folder holding the CT series (other series and files may lie beside it)")
    p.add_argument("--out", required=True, help="output folder (created; files of the same names are replaced)")
    p.add_argument("--model", required=True, help="a training run folder, a checkpoint inside one, or a weights file "
                                                   "with --architecture")
    p.add_argument("--prompt", action="append", default=[], metavar="box=X0,Y0,Z0,X1,Y1,Z1|click=X,Y,Z,D",
                   help="box corners, or a point and the tumour's diameter, in mm (repeatable)")
    p.add_argument("--boxes-from", metavar="RUN", help="a prompt-free run whose mask gives each slice its box")
    p.add_argument("--pet", metavar="FOLDER", help="the PET series of this CT (a PET/CT network's run): SUVbw from its "
                   "headers, put on the CT's grid; the two must share a frame of reference")
    p.add_argument("--series", metavar="NUMBER", help="the SeriesNumber of the CT series, where INPUT holds several")
    p.add_argument("--architecture", help="registry name of the model in a bare weights file (e.g. sam_med2d_vit_b)")
    p.add_argument("--allow-unsafe-pickle", action="store_true",
                   help="load weights files that pickle Python objects (only files you trust)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from gtvlib.segment import segment_study

    try:
        segment_study(args.input, args.out, args.model, prompts=args.prompt, boxes_from=args.boxes_from,
                      series=args.series, architecture=args.architecture, allow_unsafe_pickle=args.allow_unsafe_pickle,
                      pet=args.pet)
    except GtvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
