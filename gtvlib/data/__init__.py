"""Data: reading and writing DICOM, generating the synthetic cohort, and slicing volumes for 2-D models.

Three jobs, three subpackages, and the shared parts beside them:

==================  =============================================================================
``dicom/``          reading (CT series, RTSTRUCT, SEG, NIfTI, a patient folder), writing, privacy
``synthetic/``      the synthetic cohort: anatomy, tumours, rendering, motion, 4D-CT, clinical table
``slices/``         splits, GTV-MFIT and body boxes, balance sampling, the slice cache, ``prepare``
``volume``          :class:`~gtvlib.data.volume.Volume`, the one type every loader returns; cm³; resampling
``windows``         CT display windows (HU)
``manifest``        ``data_manifest.yaml``: datasets and weights, where they go, verification
``weights``         pretrained weights of the manifest: where they go, present, trusted checksums
``cohort``          :func:`~gtvlib.data.cohort.open_cohort`: a manifest dataset or the synthetic fallback
``decoded``         each patient decoded once: HU and masks kept for every later load (no UIDs, paths or names)
``statistics``      tables over a cohort: GTV statistics, RTSTRUCT vs SEG, rasterisation conventions
``nnunet``          a cohort as an nnU-Net v2 raw dataset; nnU-Net's predictions scored per patient
``structseg``       a cohort in the StructSeg2019 Task 4 layout (NIfTI), the HCF paper's data
``petct``           PET/CT cases (the PET on the CT grid, GTV, IGTV), a PET/CT set split by patient, and 2.5-D
                    stacks of a slice with its neighbours (drawn as training batches)
``volumes``         whole volumes for 3-D networks: a volume set split by patient, resampling, the body box
                    that confines inference, training patches
==================  =============================================================================

Data flow one way: files (``dicom``, or ``synthetic`` writing them) → ``Volume`` → ``cohort`` → ``slices``.
``python -m gtvlib.data synth|verify|weights|export-nnunet|import-nnunet`` is the command line.
"""
