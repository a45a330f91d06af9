"""Connected components of a mask, in one place: the largest ones (a box prompt's lesion, the body, a cascade's
3-D components) and those that hold given voxels (a click, a seed GTV, a PET region grown from its hottest voxel).

``connectivity``: ``"full"`` — neighbours across faces, edges and corners (8 in 2-D, 26 in 3-D); ``"faces"`` —
across faces only (4 in 2-D, 6 in 3-D). Masks are bool arrays of any dimension.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gtvlib.util.errors import GtvError

CONNECTIVITY = ("full", "faces")


def label_components(mask: np.ndarray, connectivity: str = "full") -> tuple[np.ndarray, int]:
    """(labels, count): each component of ``mask`` numbered 1 … count in array order of its first voxel; 0 outside."""
    if connectivity not in CONNECTIVITY:
        raise GtvError(f"connectivity {connectivity!r}; expected one of {CONNECTIVITY}")
    mask = np.asarray(mask, bool)
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim if connectivity == "full" else 1)
    return ndimage.label(mask, structure)


def largest_components(mask: np.ndarray, keep: int = 1, connectivity: str = "full") -> np.ndarray:
    """The ``keep`` largest components of ``mask`` (all of it when it has no more); components of equal size are
    ranked by their first voxel in array order. Bool, the shape of ``mask``."""
    if keep < 1:
        raise GtvError(f"keep={keep}; expected at least one component")
    labels, count = label_components(mask, connectivity)
    if count <= keep:
        return np.asarray(mask, bool).copy()
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    ranked = np.argsort(-sizes, kind="stable")[:keep] + 1
    return np.isin(labels, ranked)


def components_at(mask: np.ndarray, seeds, connectivity: str = "full") -> np.ndarray:
    """The components of ``mask`` that hold a seed: ``seeds`` a bool array of the mask's shape or one voxel index
    (a tuple); empty where no seed lies in the mask. Bool, the shape of ``mask``."""
    labels, _ = label_components(mask, connectivity)
    if isinstance(seeds, np.ndarray) and seeds.dtype == bool:
        if seeds.shape != labels.shape:
            raise GtvError(f"seed mask of shape {seeds.shape} for a mask of shape {labels.shape}; expected one grid")
        touched = np.unique(labels[seeds])
    else:
        voxel = tuple(int(i) for i in seeds)
        if len(voxel) != labels.ndim or not all(0 <= i < n for i, n in zip(voxel, labels.shape)):
            raise GtvError(f"seed voxel {voxel}; expected an index inside the mask of shape {labels.shape}")
        touched = np.array([labels[voxel]])
    return np.isin(labels, touched[touched > 0])
