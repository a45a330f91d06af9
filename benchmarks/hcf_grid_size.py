"""Why the HCF chapter's quick profile trains SANet on 64² slices: one training of the quarter-width SANet on one
fold of the quick cohort (StructSeg route, body crop), printing its validation per epoch and its time.

    python benchmarks/hcf_grid_size.py --size 64 --epochs 12 --lr 3e-3 --loss cr
    python benchmarks/hcf_grid_size.py --size 128 --epochs 12 --lr 3e-3 --loss cr

The quarter-width SANet's registry entry is built for 64²; ``--size 128`` trains the same architecture on 128² slices
(SANet takes any multiple of 32) by registering a 128-px twin for the run. Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--loss", default="cr")
    parser.add_argument("--augment", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("GTVLIB_BATCH", "1")
    import torch

    from gtvlib.crossval import fold_data
    from gtvlib.data.slices import prepare
    from gtvlib.data.structseg import structseg_route
    from gtvlib.models import hcf
    from gtvlib.training import Training

    torch.set_num_threads(args.threads)
    name = "sanet_w16"
    if args.size != hcf.QUICK_INPUT:
        name = f"sanet_w16_{args.size}px"
        hcf.REGISTRY[name] = dataclasses.replace(hcf.REGISTRY["sanet_w16"], name=name, input_size=args.size)
    cohort = structseg_route("synthetic")
    data = prepare(cohort, crop="body", size=args.size, validation_fraction=0.25, seed=0)
    fold = fold_data(data, 3, 0)[0]
    training = Training.of("slices", fold, "supervised", name="grid", model=name, loss=args.loss, balance="theta1",
                           optimizer="adamw", weight_decay=1e-4, lr=args.lr, schedule="warm_restarts",
                           restart_epochs=args.epochs, epochs=args.epochs, batch_size=args.batch, validation_slices="all",
                           keep_checkpoints=1, augment=args.augment)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        run = training.fit(training.run_for(root))
        epochs = run.epochs()
    print(epochs[["epoch", "train_g_loss", "val_patient_dice", "val_slice_sensitivity", "seconds"]].to_string(index=False))
    print(f"size {args.size} px: {time.perf_counter() - started:.1f} s, last validation patient Dice "
          f"{epochs.val_patient_dice.iloc[-1]:.3f}, best {epochs.val_patient_dice.max():.3f}")


if __name__ == "__main__":
    main()
