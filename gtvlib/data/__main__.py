"""Command line: ``python -m gtvlib.data synth|verify|weights|export-nnunet|import-nnunet``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gtvlib.util.errors import GtvError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gtvlib.data")
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser("synth", help="write a synthetic DICOM cohort")
    synth.add_argument("--preset", default="quick", help="quick (CPU) or paper (512², 0.977 mm, 3 mm, 112 patients)")
    synth.add_argument("--out", type=Path, required=True, help="folder to write (replaced if it holds a cohort)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--patients", type=int, default=None, help="override the preset's number of patients")
    synth.add_argument("--4d", dest="four_d", type=int, default=None, metavar="N",
                       help="the first N patients also get a 10-phase 4D-CT (MIP, AVG, ITV)")
    synth.add_argument("--workers", type=int, default=None, help="parallel processes (default: CPU count, at most 8)")
    verify = commands.add_parser("verify", help="check the real datasets against data_manifest.yaml")
    verify.add_argument("dataset", nargs="?", help="one dataset id (default: all)")
    verify.add_argument("--record", action="store_true", help="record per-file sha256 of a dataset now in place")
    weights = commands.add_parser("weights", help="where the pretrained weights go, whether they are there, their checksums")
    weights.add_argument("name", nargs="?", help="a name of data_manifest.yaml's weights (default: all)")
    weights.add_argument("--record", action="store_true",
                         help="record the file's sha256 as trusted (allow_unsafe_pickle then accepts this file only)")
    export = commands.add_parser("export-nnunet", help="write a cohort as an nnU-Net v2 raw dataset (imagesTr, labelsTr, dataset.json)")
    export.add_argument("--out", type=Path, required=True, help="nnU-Net's raw folder (nnUNet_raw); Dataset<id>_<name> is written in it")
    export.add_argument("--dataset", default="synthetic", help="a dataset of data_manifest.yaml (default: the synthetic cohort)")
    export.add_argument("--preset", default="quick", help="synthetic preset (quick or paper)")
    export.add_argument("--seed", type=int, default=0, help="synthetic cohort seed")
    export.add_argument("--dataset-id", type=int, default=501, help="nnU-Net dataset number (1-999)")
    export.add_argument("--name", default="GTV", help="nnU-Net dataset name")
    structseg = commands.add_parser("export-structseg", help="write a cohort in the StructSeg2019 Task 4 layout (<n>/data.nii.gz + label.nii.gz)")
    structseg.add_argument("--out", type=Path, required=True, help="the Lung_GTV folder to write")
    structseg.add_argument("--dataset", default="synthetic", help="a dataset of data_manifest.yaml (default: the synthetic cohort)")
    structseg.add_argument("--preset", default="quick", help="synthetic preset (quick or paper)")
    structseg.add_argument("--seed", type=int, default=0, help="synthetic cohort seed")
    imported = commands.add_parser("import-nnunet", help="score nnU-Net predictions (<case>.nii.gz) against the cohort's truth")
    imported.add_argument("predictions", type=Path, help="folder of nnU-Net's predicted <case>.nii.gz")
    imported.add_argument("--out", type=Path, required=True, help="CSV to write: one row per patient")
    imported.add_argument("--dataset", default="synthetic")
    imported.add_argument("--preset", default="quick")
    imported.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.command in ("export-nnunet", "import-nnunet", "export-structseg"):
            return _nnunet(args)
        if args.command == "weights":
            return _weights(args.name, args.record)
        if args.command == "synth":
            from gtvlib.data.synthetic import generate_cohort

            overrides = {} if args.patients is None else {"patients": args.patients}
            if args.four_d is not None:
                overrides["four_d_patients"] = args.four_d
            generate_cohort(args.out, args.preset, args.seed, show_progress=True, workers=args.workers, **overrides)
            return 0
        from gtvlib.data.manifest import verify as verify_datasets
        from gtvlib.util.paths import data_dir

        reports = verify_datasets(args.dataset, args.record)
        print(f"data root (GTVLIB_DATA): {data_dir()}")
        for report in reports:
            print(f"{report.dataset}: {report.status}")
            for line in report.lines:
                print(f"  {line}")
        wanted = [r for r in reports if r.dataset == args.dataset] if args.dataset else []
        return 1 if any(not r.ok for r in wanted) else 0
    except GtvError as exc:
        print(f"gtvlib.data: error: {exc}", file=sys.stderr)
        return 2


def _nnunet(args) -> int:  # the cohort exports and nnU-Net's import
    from gtvlib.data.cohort import open_cohort
    from gtvlib.data.nnunet import export_nnunet, import_predictions
    from gtvlib.util.atomic import write_text_atomic

    cohort = open_cohort(args.dataset, args.preset, args.seed)
    if cohort.note:
        print(cohort.note)
    if args.command == "export-structseg":
        from gtvlib.data.structseg import export_structseg

        folder = export_structseg(cohort, args.out)
        print(f"wrote {folder} ({len(cohort.patient_ids)} cases: <n>/data.nii.gz + label.nii.gz)")
        return 0
    if args.command == "export-nnunet":
        folder = export_nnunet(cohort, args.out, args.dataset_id, args.name)
        print(f"wrote {folder} ({len(cohort.patient_ids)} cases); next: nnUNetv2_plan_and_preprocess -d {args.dataset_id} "
              "--verify_dataset_integrity, then nnUNetv2_train")
        return 0
    table = import_predictions(args.predictions, cohort)
    write_text_atomic(args.out, table.to_csv(index=False))
    print(f"wrote {args.out}: {len(table)} patients, mean Dice {table.dice.mean():.4f}")
    return 0


def _weights(name: str | None, record: bool) -> int:
    from gtvlib.data.manifest import load_weights_manifest
    from gtvlib.data.weights import resolve_weights

    manifest = load_weights_manifest()
    if name is not None and name not in manifest:
        raise GtvError(f"weights {name!r} are not in data_manifest.yaml; expected one of {sorted(manifest)}")
    for each in [name] if name else sorted(manifest):
        found = resolve_weights(each)
        if record:
            print(f"{each}: recorded sha256 {found.record()} of {found.path}")
        else:
            known = found.known_sha256()
            print(f"{each}: {'present' if found.found else 'absent'} at {found.path}; "
                  + (f"trusted sha256 {known[:12]}…" if known else "no checksum known (record one to unpickle it)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
