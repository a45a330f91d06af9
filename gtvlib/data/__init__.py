"""Data: reading DICOM and NIfTI, generating the synthetic cohort, slicing and caching."""
