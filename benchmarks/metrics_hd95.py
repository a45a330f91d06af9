"""HD95 speed on a CT-sized volume pair: gtvlib.metrics beside MONAI, same masks, same values.

    .venv/bin/python benchmarks/metrics_hd95.py [--shape 130 512 512] [--repeats 3]

Two cases on a (z, y, x) volume with the paper's spacing (3.0 × 0.977 × 0.977 mm): a tumour (an irregular
ellipsoid about 5 × 6 × 5 cm, and a prediction shifted and reshaped) and a large structure (two lung-sized
ellipsoids, the worst case for a bounding-box crop). Columns: gtvlib's ``hd95`` now (surfaces on the joint
box of the two masks, distances by k-d tree nearest-neighbour queries), the same definition by distance
transforms of the whole array (gtvlib before 2026-11-25), and
MONAI's ``compute_hausdorff_distance`` (percentile 95, ``include_background``). Best of ``--repeats`` runs;
the values are printed so that their equality is visible.
"""

import argparse
import time

import numpy as np
import torch
from monai.metrics import compute_hausdorff_distance
from scipy import ndimage

from gtvlib import metrics
from gtvlib.util.device import device_description, pick_device

SPACING_MM = (3.0, 0.977, 0.977)


def ellipsoid(shape, centre, radii, rng, roughness=0.1):
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    r = sum(((g - c) / a) ** 2 for g, c, a in zip(grid, centre, radii))
    return (r + rng.normal(0, roughness, shape).astype(np.float32)) < 1.0


def cases(shape):
    rng = np.random.default_rng(0)
    z, y, x = shape
    tumour = ellipsoid(shape, (z / 2, y * 0.45, x * 0.6), (8, 30, 26), rng)
    tumour_prediction = ellipsoid(shape, (z / 2 + 1, y * 0.45 + 3, x * 0.6 - 2), (9, 28, 28), rng)
    lungs = ellipsoid(shape, (z / 2, y / 2, x * 0.3), (z * 0.4, y * 0.3, x * 0.15), rng, 0.05) | \
        ellipsoid(shape, (z / 2, y / 2, x * 0.7), (z * 0.4, y * 0.3, x * 0.15), rng, 0.05)
    lungs_prediction = ndimage.binary_dilation(lungs, iterations=2)
    return {"tumour": (tumour_prediction, tumour), "lungs": (lungs_prediction, lungs)}


def whole_array_hd95(prediction, reference, spacing):
    """gtvlib's definition before the crop: distance transforms of the whole array."""
    def directed(source, target):
        return ndimage.distance_transform_edt(~metrics.surface(target), sampling=spacing)[metrics.surface(source)]
    return float(max(np.percentile(directed(prediction, reference), 95), np.percentile(directed(reference, prediction), 95)))


def monai_hd95(prediction, reference, spacing):
    p, r = torch.from_numpy(prediction)[None, None], torch.from_numpy(reference)[None, None]
    return float(compute_hausdorff_distance(p.float(), r.float(), include_background=True, percentile=95, spacing=spacing))


def best_time(function, repeats):
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[130, 512, 512])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{device_description(pick_device('cpu'))}; volume {tuple(args.shape)}, spacing {SPACING_MM} mm; "
          f"best of {args.repeats}; torch threads {torch.get_num_threads()}")
    for name, (prediction, reference) in cases(tuple(args.shape)).items():
        row = [f"{name:7s} ({int(reference.sum()):,} reference voxels)"]
        for label, function in (("gtvlib", metrics.hd95), ("gtvlib whole array (before)", whole_array_hd95),
                                ("MONAI", monai_hd95)):
            seconds, value = best_time(lambda: function(prediction, reference, SPACING_MM), args.repeats)
            row.append(f"{label} {seconds:.3f} s = {value:.4f} mm")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
