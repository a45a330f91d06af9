"""Recurrence modelling in small-cell lung cancer (seed 003; METHODS.md §4): from contours to prognosis.

============  ===========================================================================================
``stations``  the 16 lymph-node stations of the paper's recurrence table, their masks, the paper's counts
``features``  the 110 features: six partition parameters per station, patient-level and clinical variables;
              a CTV derived from the GTV where the data has none
``simulate``  the simulated SCLC cohort: structures, features, outcomes from known effects (saved)
``modelling`` correlation filter → RFE with inner CV → grid-searched random forest, nested in an outer CV;
              the 80/20 split; the leaky variant; AUC with DeLong's interval
``survival``  Kaplan–Meier local control by tumour size, log-rank, Cox with the proportional-hazards check
============  ===========================================================================================
"""
