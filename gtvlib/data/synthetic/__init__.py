"""The synthetic DICOM cohort: a chest-CT phantom with lung tumours, written as genuine DICOM.

==============  =================================================================================
``shapes``      signed-distance shapes in patient coordinates (mm, LPS) and their set algebra
``anatomy``     tissue HU, the thorax's organs as shapes, lymph-node stations anchored to landmarks
``tumour``      primary tumours (size, surface, texture, placement) and involved nodes
``render``      the voxel grid and the renderer: HU with partial volume, texture and noise; masks
``truth``       ground-truth masks on disk; contours of shapes on the slice planes
``motion``      the Lujan breathing model of the 4D-CT
``fourd``       a patient's 10-phase 4D-CT, MIP, AVG, per-phase GTVs and ITV (write and read)
``pet``         FDG-PET: SUV per tissue, emission averaged over the breathing (IGTV), PSF, noise
``clinical``    the clinical table with survival from known effects
``structures``  structures without a CT: one patient's ROIs as masks (the recurrence chapter's SCLC cohort)
``cohort``      presets, one patient, the whole cohort (deterministic, atomic), the cached entry point
==============  =================================================================================

Dependencies run one way: shapes → anatomy, tumour → render → truth → fourd, pet → cohort; render → structures.
"""

from gtvlib.data.synthetic.cohort import (
    GENERATOR_VERSION,
    PRESETS,
    Preset,
    cohort_key,
    generate_cohort,
    preset,
    synthetic_cohort,
)
from gtvlib.data.synthetic.truth import load_masks

__all__ = ["GENERATOR_VERSION", "PRESETS", "Preset", "cohort_key", "generate_cohort", "load_masks", "preset",
           "synthetic_cohort"]
