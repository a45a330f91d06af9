"""Patch-training settings of iSeg's 3-D U-Net in the quick profile (issue 11): one fold (fold 0 of 3,
patient-level) of the quick synthetic cohort trained with the settings given as JSON, one torch thread; prints the
validation patient Dice per epoch and, at the end, each validation patient's Dice and predicted vs reference volume.

    python benchmarks/iseg_patch_settings.py '{"window": "mediastinal", "epochs": 20, "steps_per_epoch": 25,
        "batch_size": 8, "patch": [16, 32, 32], "lr": 5e-3}'

Keys: ``window`` (a window preset), optional ``spacing`` ([dz, dy, dx] mm to resample to), ``model`` (default
``unet3d_small``), ``fold``; the others are settings of ``gtvlib.training.Training.of`` on the patch route (e.g. ``negatives``,
``foreground_fraction``).
"""
import json
import sys
import tempfile
import time


def main():
    import torch

    from gtvlib import crossval
    from gtvlib.data.cohort import open_cohort
    from gtvlib.data.volumes import volume_set
    from gtvlib.training import Training

    torch.set_num_threads(1)
    settings = json.loads(sys.argv[1])
    window, fold, model = settings.pop("window"), settings.pop("fold", 0), settings.pop("model", "unet3d_small")
    cohort = open_cohort("synthetic", "quick", 0)
    volumes = volume_set(cohort, cohort.patient_ids, window=window, spacing_mm=settings.pop("spacing", None))
    folds = crossval.fold_data(volumes, 3, 0)
    defaults = dict(epochs=10, steps_per_epoch=20, batch_size=2, lr=1.0e-3, optimizer="adamw", weight_decay=1.0e-5,
                    schedule="cosine", keep_checkpoints=1)  # chapter 8's loop settings
    training = Training.of("patches", folds[fold], "supervised", loss="dice_bce", name="patch-settings", model=model,
                           **{**defaults, **settings})
    started = time.perf_counter()
    run = training.fit(training.run_for(tempfile.mkdtemp()))
    print(sys.argv[1], "training wall (s)", round(time.perf_counter() - started, 1))
    print(run.epochs()[["epoch", "train_loss", "val_patient_dice"]].round(3).to_string())
    print(run.per_patient()[["patient", "dice", "predicted_cm3", "reference_cm3"]].round(2).to_string())


if __name__ == "__main__":
    main()
