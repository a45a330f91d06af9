"""Patch-training settings of iSeg's 3-D U-Net in the quick profile (issue 11): one fold (fold 0 of 3,
patient-level) of the quick synthetic cohort trained with the settings given as JSON, one torch thread; prints the
validation patient Dice per epoch and, at the end, each validation patient's Dice and predicted vs reference volume.

    python benchmarks/iseg_patch_settings.py '{"window": "mediastinal", "epochs": 20, "steps_per_epoch": 25,
        "batch_size": 8, "patch": [16, 32, 32], "lr": 5e-3}'

Keys: ``window`` (a window preset), optional ``spacing`` ([dz, dy, dx] mm to resample to), ``model`` (default
``unet3d_small``), ``fold``; the others are fields of ``gtvlib.train3d.VolumeConfig`` (e.g. ``negatives``,
``foreground_fraction``).
"""
import json
import sys
import tempfile
import time


def main():
    import torch

    from gtvlib import crossval, train3d
    from gtvlib.data.cohort import open_cohort

    torch.set_num_threads(1)
    settings = json.loads(sys.argv[1])
    window, fold, model = settings.pop("window"), settings.pop("fold", 0), settings.pop("model", "unet3d_small")
    cohort = open_cohort("synthetic", "quick", 0)
    volumes = train3d.volume_set(cohort, cohort.patient_ids, window=window, spacing_mm=settings.pop("spacing", None))
    folds = crossval.fold_data(volumes, 3, 0)
    config = train3d.VolumeConfig(name="patch-settings", model=model,
                                  **{k: tuple(v) if k == "patch" else v for k, v in settings.items()})
    started = time.perf_counter()
    run = train3d.train_volumes(config, folds[fold], train3d.run_for(config, folds[fold], tempfile.mkdtemp()))
    print(sys.argv[1], "training wall (s)", round(time.perf_counter() - started, 1))
    print(run.epochs()[["epoch", "train_loss", "val_patient_dice"]].round(3).to_string())
    print(run.per_patient()[["patient", "dice", "predicted_cm3", "reference_cm3"]].round(2).to_string())


if __name__ == "__main__":
    main()
