"""``python -m gtvlib.train --config run.yaml``: any route with any objective from one file, under ``torchrun`` too.

::

    run_dir: runs/my-run              # optional: by default runs/<name>-<key of the settings>
    config:    {model: unet3d_small, epochs: 10, steps_per_epoch: 20, batch_size: 2, optimizer: adamw, ...}  # FitConfig
    route:     {kind: patches, patch: [16, 32, 32], ...}       # slices | patches | stacks, with that route's options
    objective: {kind: supervised, loss: dice_bce}              # supervised | adversarial | classification
    data:
      cohort: path/to/cohort            # a folder of patient folders (CT + RTSTRUCT), PET under pet/<patient>/
      training_patients: [SYNTH-001, SYNTH-002]
      validation_patients: [SYNTH-003]
      window: hcf_paper                 # slices and patches: the CT window; stacks: the route's own window
      crop: [16, 16, 112, 112]          # slices: the crop [row0, col0, row1, col1] or null; cache_dir (optional)
      spacing_mm: [5.0, 3.5, 3.5]       # patches: resample to it (optional); structure (default GTV-1)

Under ``torchrun`` rank 0 builds the slice cache while the others wait; every rank loads the volumes it draws from.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from gtvlib.util.errors import GtvError

REQUIRED = ("config", "route", "objective", "data")
DATA_REQUIRED = ("cohort", "training_patients", "validation_patients")


def _parts(spec: dict, source: Path):
    """(FitConfig, route class, route options, objective) of a run configuration, or a :class:`GtvError` naming it."""
    from gtvlib.training.config import FitConfig
    from gtvlib.training.objectives import objective_from
    from gtvlib.training.routes import ROUTES

    missing = [key for key in REQUIRED if not isinstance(spec, dict) or key not in spec]
    if missing:
        raise GtvError(f"{source}: {missing} missing; a run configuration needs {list(REQUIRED)} (and optionally run_dir)")
    missing = [key for key in DATA_REQUIRED if key not in (spec["data"] or {})]
    if missing:
        raise GtvError(f"{source}: data: {missing} missing; expected {list(DATA_REQUIRED)}")
    try:
        config = FitConfig(**(spec["config"] or {}))
    except TypeError as exc:
        raise GtvError(f"{source}: config: {exc}; expected fields of FitConfig {[f.name for f in fields(FitConfig)]}") from None
    if isinstance(config.betas, list):
        config.betas = tuple(config.betas)
    route_options = dict(spec["route"] or {})
    kind = route_options.pop("kind", None)
    if kind not in ROUTES:
        raise GtvError(f"{source}: route kind {kind!r}; expected one of {sorted(ROUTES)}")
    known = {f.name for f in fields(ROUTES[kind])} - {"data"}
    unknown = sorted(set(route_options) - known)
    if unknown:
        raise GtvError(f"{source}: route {kind!r}: {unknown} are not its options; expected some of {sorted(known)}")
    try:
        objective = objective_from(spec["objective"])
    except GtvError as exc:
        raise GtvError(f"{source}: {exc}") from None
    return config, ROUTES[kind], route_options, objective


def _cohort(folder: Path, patient_ids: list[str]):
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient

    absent = [pid for pid in patient_ids if not (folder / pid).is_dir()]
    if absent:
        raise GtvError(f"{folder}: no patient folders {absent}; expected a folder of patient folders")
    return Cohort("folder", str(folder.name), folder, list(patient_ids),
                  lambda pid, structures: load_patient(folder / pid, structures=structures))


def load_data(kind: str, data: dict, model: str, rank: int = 0):
    """The data object of route ``kind`` from the configuration's ``data`` section."""
    folder = Path(data["cohort"]).expanduser()
    training, validation = list(data["training_patients"]), list(data["validation_patients"])
    if kind == "slices":
        from gtvlib.data.slices.boxes import Box
        from gtvlib.data.slices.prepare import prepared_from_parts
        from gtvlib.models import model_spec

        crop = data.get("crop")
        return prepared_from_parts(folder, training, validation, window=data.get("window", "hcf_paper"),
                                   crop=Box(*crop) if crop else None, size=model_spec(model).input_size,
                                   cache_dir=data.get("cache_dir"), build=rank == 0)
    cohort = _cohort(folder, training + validation)
    if kind == "patches":
        from gtvlib.data.volumes import volume_set

        spacing = data.get("spacing_mm")
        return volume_set(cohort, training + validation, data.get("window", "hcf_paper"), data.get("structure", "GTV-1"),
                          validation, tuple(spacing) if spacing else None)
    from gtvlib.data.petct import PetCtSet, load_petct

    return PetCtSet({pid: load_petct(cohort, pid) for pid in training + validation}, training, validation,
                    f"PET/CT of {folder.name}")


def main(argv: list[str] | None = None) -> int:
    """Train the run a configuration file describes; 0 when done."""
    from gtvlib.runs import RunRecord
    from gtvlib.training.loop import fit
    from gtvlib.util.device import init_distributed, pick_device
    from gtvlib.util.yamlfile import read_yaml

    parser = argparse.ArgumentParser(prog="python -m gtvlib.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the run configuration (YAML)")
    args = parser.parse_args(argv)
    spec = read_yaml(args.config, "run configuration")
    config, route_class, route_options, objective = _parts(spec, args.config)
    device, rank, world = init_distributed(pick_device(config.device))
    data = load_data(route_class.kind, spec["data"], config.model, rank)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # the other ranks wait for rank 0's slice cache
    if "patch" in route_options:
        route_options["patch"] = tuple(route_options["patch"])
    route = route_class(data, **route_options)
    run = RunRecord(spec["run_dir"], writer=rank == 0) if spec.get("run_dir") else None
    fit(config, route, objective, run)
    return 0
