"""Chapter computation: one module per notebook stem, each owning what its chapter computes beyond the library's
stages. A chapter module calls the stages (data, training, evaluation, inference) and never another chapter.

=======================  ==========================================================================
``ch07_hcf_cascade``     HCF (seed 001): the cascade's trainings as fold jobs, its ablation rows beside the
                         paper's
``ch08_motion_itv``      iSeg (seed 002): out-of-fold scores, the four ITVs of a 4D-CT, machine vs physician
                         volumes, false-positive volume against a simulated local failure
``ch09_petct_igtv``      seed 004: the PET cohort's edge measurements, the ablation's arms (GTV → IGTV
                         transfer) and their scores beside the SUV references
=======================  ==========================================================================
"""
