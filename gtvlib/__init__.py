"""gtvlib: the library behind gtv-book.

Automatic segmentation of the lung-cancer gross tumour volume (GTV) on CT for radiotherapy planning.
Each stage of the work has one home, and every model family uses the same ones:

====================  ==========================================================================
read                  ``data/dicom/`` (CT series, RTSTRUCT, SEG, NIfTI, a patient folder → Volume)
generate              ``data/synthetic/`` (the synthetic DICOM cohort, 4D-CT, clinical table)
cohort                ``data/cohort.py`` (a manifest dataset or the synthetic fallback),
                      ``data/statistics.py`` (tables over a cohort), ``data/manifest.py``
slice                 ``data/slices/`` (splits, GTV-MFIT, balance sampling, cache, ``prepare``)
model                 ``models/`` (a registry: one file per family; checkpoints), ``data/weights.py``
train                 ``training/`` (one ``fit`` loop: ``FitConfig``, routes for slices, patches and PET/CT
                      stacks, objectives supervised, adversarial and slice classification; the command line),
                      ``Training``: the three as one value from one flat vocabulary), ``losses.py``;
                      ``train.py``: ``python -m gtvlib.train --config run.yaml``
volumes               ``data/volumes.py`` (whole volumes, resampling, the body box, patches),
                      ``data/petct.py`` (PET/CT cases and their 2.5-D stacks)
run record            ``runs.py`` (``runs/<name>-<key>/``: params, epochs, per patient, checkpoints)
evaluate              ``evaluation/`` (one ``Evaluation`` for every family: 2-D slices predicted, stitched and
                      scored per slice and in 3-D; whole volumes and PET/CT stacks scored per patient; the
                      cascade's gate, fold voting, the largest 3-D components, mean ± SD over folds),
                      ``metrics.py`` (the one per-patient scorer, ``patient_row``)
cross-validate        ``crossval.py`` (patient-level folds of any route's data; the one job list: many runs
                      at once, resumable)
motion                ``itv.py`` (4D-CT phase checks, the ITV as a union, the MIP shortcut, a simulated
                      physician's ITV)
prompts               ``prompts.py`` (box and click prompts drawn from a mask)
statistics            ``stats.py`` (Figure-7 tests, paired tests over patients, bootstrap, seeds)
infer                 ``inference/`` (one inferer per training route; SAM-Med2D prompted by hand)
export                ``segment/`` (a CT folder → RTSTRUCT + SEG of GTV-auto from any trained family),
                      ``data/nnunet.py``
sweep                 ``sweeps.py`` (GTV-SAMGAN's grids of configurations × seeds, resumable, summarised
                      over seeds; the chapters share its runs)
chapter               ``chapters/`` (one module per notebook stem, each with its paper's published numbers:
                      GTV-SAMGAN's result and ablation tables, the SCLC features under other primaries, the
                      HCF chapter's trainings and ablation rows, the motion chapter's ITVs and false-positive
                      analysis, the PET/CT chapter's edge measurements and ablation arms), ``viz/`` (figures),
                      ``book/`` (papermill runner, profiles, provenance, Jupyter Book)
recurrence            ``recurrence/`` (stations, the 110 features, the simulated SCLC cohort, nested
                      CV with RFE and a random forest, survival)
shared                ``util/`` (``errors``: GtvError, ``paths``, ``device``, ``atomic``, ``checksums``,
                      ``progress``, ``parallel``, ``yamlfile``)
====================  ==========================================================================

Dependencies run one way, from the shared modules through data, models, training and evaluation to the
chapters; no module imports one that imports it back. Importing gtvlib is cheap and never imports torch
or torchvision.
"""

from gtvlib.util.errors import GtvError

__version__ = "0.1.0"

__all__ = ["GtvError", "__version__"]
