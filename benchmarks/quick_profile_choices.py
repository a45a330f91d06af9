"""Why the quick profile's tiny SAM-Med2D is shaped as it is: the prompt-centred zoom against none.

    .venv/bin/python benchmarks/quick_profile_choices.py [--seeds 0 1 2] [--variants NAME ...] [--runs DIR]

Each variant trains GTV-SAMGAN (the chapter-3 settings of the quick profile: GAN, 12 epochs, GTV-MFIT crop)
on the quick synthetic cohort with the library's own loop, one run per seed, and reports the final
validation slice Dice and median per-patient 3-D Dice, beside the three no-training box references on the
same slices, and the training time per run (one process, 2 threads). Variants (all but the last are
:data:`gtvlib.models.sam_med2d.TINY` with one field changed):

* ``no_zoom_before``: the tiny model before the zoom (4 blocks of width 64, global attention in blocks 1
  and 3), batch 4, no zoom;
* ``no_zoom``: today's shape (2 blocks of width 32), batch 8, no zoom;
* ``zoom_min16``: zoom ×2 with windows of at least 16 px (1-pixel tumour caps are magnified 4 times);
* ``tiny``: TINY itself (zoom ×2, windows of at least 4 px), the quick profile.

Runs go to ``--runs`` (default: a folder under the system's temporary folder), keyed by their settings, so
a second invocation reuses finished runs.
"""

import argparse
import os
import tempfile
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from gtvlib import sweeps
from gtvlib.crossval import complete
from gtvlib.evaluation.slices import references_beside
from gtvlib.models import sam_med2d
from gtvlib.runs import RunRecord
from gtvlib.util.device import device_description, pick_device

VARIANTS = {
    "no_zoom_before": (replace(sam_med2d.TINY, encoder_embed_dim=64, encoder_depth=4, encoder_global_attn_indexes=(1, 3),
                               prompt_zoom=0.0), 4),
    "no_zoom": (replace(sam_med2d.TINY, prompt_zoom=0.0), 8),
    "zoom_min16": (replace(sam_med2d.TINY, zoom_min_px=16), 8),
    "tiny": (sam_med2d.TINY, 8),
}


def register(name: str, config) -> str:
    """Register a variant of the tiny model under a benchmark-only name (this process only)."""
    model_name = f"bench_{name}"
    sam_med2d.REGISTRY[model_name] = sam_med2d._spec(model_name, lambda: sam_med2d.SamMed2D(config), config,
                                                     f"benchmark variant {name}", ())
    return model_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--runs", default=os.path.join(tempfile.gettempdir(), "gtvlib-quick-profile-choices"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    os.environ.setdefault("GTVLIB_BATCH", "1")  # no per-batch progress bars
    settings = sweeps.sweep_settings("quick")
    data = sweeps.default_data(settings)("mfit")
    point = sweeps.chapter_point("gan")
    rows = []
    for variant in args.variants:
        config, batch_size = VARIANTS[variant]
        model_name = register(variant, config)
        for seed in args.seeds:
            training = sweeps.training_of(point, settings, seed, data).changed(model=model_name, batch_size=batch_size,
                                                                                name=f"{variant}-seed{seed}")
            run = training.run_for(args.runs)
            started = time.perf_counter()
            if not complete(run, training.config, training.objective):
                training.fit(run)
            seconds = time.perf_counter() - started
            scores = sweeps.final_scores(RunRecord(run.folder))
            rows.append({"variant": variant, "seed": seed, "slice_dice": scores["slice_dice"],
                         "patient_dice_median": scores["patient_dice_median"], "seconds": seconds})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(f"\n{device_description(pick_device('cpu'))}; quick cohort, GAN, 12 epochs, seeds {args.seeds}")
    print(table.groupby("variant", sort=False).agg(slice_dice=("slice_dice", "mean"), slice_dice_sd=("slice_dice", "std"),
                                                   patient_dice_median=("patient_dice_median", "mean"),
                                                   seconds_per_run=("seconds", "mean")).round(4).to_string())
    references = references_beside({}, data.cache, data.validation_ids, pick_device("cpu"))
    print("\nno-training references on the same slices:")
    print(references[["dice", "patient_dice_median"]].round(4).to_string())
    print(f"\nreused runs report 0 s; {np.sum(table.seconds > 0)} of {len(table)} runs trained now")


if __name__ == "__main__":
    main()
