"""Feasibility of iSeg's 3-D U-Net in the quick profile (issue 11): 3-fold patient-level CV of `unet3d_small` on the
quick synthetic cohort, 2 worker processes, printing each fold's validation Dice per epoch and the out-of-fold
per-patient Dice (median and IQR).

    python benchmarks/iseg_quick_feasibility.py WINDOW EPOCHS STEPS BATCH PATCH LR
    python benchmarks/iseg_quick_feasibility.py mediastinal 12 25 8 16,32,32 5e-3
"""
import sys
import tempfile
import time


def main():
    t0=time.perf_counter()
    from gtvlib import crossval
    from gtvlib.data.cohort import open_cohort
    from gtvlib.data.volumes import volume_set
    from gtvlib.training import Training
    c=open_cohort("synthetic","quick",0)
    vs=volume_set(c, c.patient_ids, window=sys.argv[1])
    print("load", time.perf_counter()-t0)
    folds=crossval.fold_data(vs, 3, 0)
    ep,steps,bs=int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]); patch=tuple(int(x) for x in sys.argv[5].split(","))
    training=Training.of("patches", vs, "supervised", loss="dice_bce", name="iseg", model="unet3d_small", epochs=ep,
                         steps_per_epoch=steps, batch_size=bs, patch=patch, lr=float(sys.argv[6]), optimizer="adamw",
                         weight_decay=1e-5, schedule="cosine", keep_checkpoints=1)
    jobs=[crossval.Job("unet3d", k, training.changed(data=f)) for k,f in enumerate(folds)]
    t=time.perf_counter()
    table=crossval.train_jobs(jobs, tempfile.mkdtemp(prefix="iseg-"), workers=2, show_progress=False)
    print(table.to_string(), "train wall", time.perf_counter()-t)
    import pandas as pd

    from gtvlib.runs import RunRecord
    pp=pd.concat([RunRecord(r).per_patient() for r in table.run])
    print(pp[["patient","dice","predicted_cm3","reference_cm3"]].round(3).to_string())
    print("median", pp.dice.median(), pp.dice.quantile([.25,.75]).tolist())
    for r in table.run: print(RunRecord(r).epochs()[["epoch","train_loss","val_patient_dice"]].to_string())
if __name__=="__main__": main()
