"""From volumes to 2-D training slices.

==============  =================================================================================
``splits``      seeded patient-level splits and k-fold
``boxes``       pixel boxes: tight boxes, GTV-MFIT (seed 000), the HCF body crop (seed 001)
``sampling``    balance sampling θ0–θn (seed 001) and its table
``cache``       the slice cache: windowed, cropped, resized slices per patient, decoded once
``prepare``     one call: split → whole-image cache → GTV-MFIT → model-grid cache
``dataset``     the torch Dataset over cached slices (augmentation, box prompts); imports torch
==============  =================================================================================

Chapters call :func:`prepare`; the names below are the rest of the torch-free API.
"""

from gtvlib.data.slices.boxes import Box, body_box, body_square, mfit_box, tight_box
from gtvlib.data.slices.cache import SliceCache, SliceSpec, label_frequency, slices_of_volume
from gtvlib.data.slices.prepare import PreparedSlices, mfit_from_cache, prepare, prepared_from_parts
from gtvlib.data.slices.sampling import BALANCE_RATIOS, balance_sample, balance_table
from gtvlib.data.slices.splits import kfold_splits, patient_split

__all__ = [
    "BALANCE_RATIOS", "Box", "PreparedSlices", "SliceCache", "SliceSpec", "balance_sample", "balance_table", "body_box", "body_square",
    "kfold_splits", "label_frequency", "mfit_box", "mfit_from_cache", "patient_split", "prepare", "prepared_from_parts",
    "slices_of_volume", "tight_box",
]
