"""Chapter computation: one module per notebook stem, each owning what its chapter computes beyond the library's
stages, and its paper's published numbers (labelled as the paper's, never typed in a notebook cell). A chapter
module calls the stages (data, training, evaluation, inference, sweeps) and never another chapter.

=======================  ==========================================================================
``ch03_train_gtv_samgan`` GTV-SAMGAN (seed 000): the paper's Table-1 result; the out-of-fold scores under each
                         prompt beside the references, paired tests, strata by size and location
``ch04_ablations``       GTV-SAMGAN's ablation on chapter 3's folds: the arms, their paired contrasts beside the
                         paper's Table-3 differences, the constant-rate stability runs; Tables 1, 3 and 4
``ch06_recurrence``      SCLC recurrence (seed 003): the paper's numbers, the features recomputed with other
                         primaries (a model's GTV, the reference grown or shrunk)
``ch07_hcf_cascade``     HCF (seed 001): the cascade's trainings as fold jobs, its ablation rows beside the
                         paper's
``ch08_motion_itv``      iSeg (seed 002): out-of-fold scores, the four ITVs of a 4D-CT, machine vs physician
                         volumes, false-positive volume against a simulated local failure
``ch09_petct_igtv``      seed 004: the PET cohort's edge measurements, the ablation's arms (GTV → IGTV
                         transfer) and their scores beside the SUV references
=======================  ==========================================================================
"""
