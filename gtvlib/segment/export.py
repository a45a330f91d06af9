"""Writing a predicted GTV for a planning system: an RT Structure Set and a DICOM SEG referencing the input CT
series, a QA picture and a summary, all into one folder at once (written beside it, then moved in).

The DICOM objects carry the input's patient and study attributes (a planning system files them by those);
the QA picture and the summary carry none of them (nor UIDs), only the series number and description, the
model and the numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from gtvlib import __version__
from gtvlib.data.dicom.contours import contours_from_mask
from gtvlib.data.dicom.structure_writers import rtstruct_dataset, seg_dataset
from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError

ROI_NAME = "GTV-auto"
IGTV_ROI_NAME = "IGTV-auto"  # a PET/CT network trained on the IGTV (seed 004)


def output_files(roi_name: str = ROI_NAME) -> dict[str, str]:
    """The files an export writes, by kind, named after its ROI."""
    return {"rtstruct": f"RTSTRUCT_{roi_name}.dcm", "seg": f"SEG_{roi_name}.dcm", "qa": "qa.png", "summary": "summary.json"}


OUTPUT_FILES = output_files()


def structure_datasets(ct_slices: list[Dataset], mask: np.ndarray, model_name: str, model_version: str,
                       roi_name: str = ROI_NAME) -> tuple[Dataset, Dataset]:
    """(RTSTRUCT, SEG) of ``mask`` (z, rows, columns) bool over ``ct_slices`` (sorted along z): ROI / segment
    ``GTV-auto``, generated AUTOMATIC by ``model_name`` (``model_version``), new UIDs, today's date."""
    if not mask.any():
        raise GtvError("the model found no tumour on any slice: nothing to export (check the prompt, or the model)")
    now = dt.datetime.now()
    description = f"{model_name} {model_version}"[:64]  # ROI Generation Description is LO (64 characters)
    planes = {k: contours_from_mask(mask[k]) for k in range(mask.shape[0]) if mask[k].any()}
    roi = {"name": roi_name, "number": 1, "type": "GTV", "colour": (255, 0, 0), "planes": planes,
           "algorithm": "AUTOMATIC", "description": description}
    rtstruct = rtstruct_dataset(ct_slices, [roi], label=roi_name, series_uid=generate_uid(), sop_uid=generate_uid(),
                                manufacturer="gtvlib", created=(now.strftime("%Y%m%d"), now.strftime("%H%M%S")),
                                series_description=f"{roi_name} (gtvlib {__version__})")
    seg = seg_dataset(ct_slices, {roi_name: mask}, generate_uid(), generate_uid(), content_date=None,
                      algorithm=(model_name, model_version[:64]), manufacturer="gtvlib",
                      series_description=f"{roi_name} (gtvlib {__version__})")
    return rtstruct, seg


def qa_figure(volume: Volume, mask: np.ndarray, title: str, path: Path, panels: int = 6) -> None:
    """A PNG of up to ``panels`` slices through the GTV (lung window) with its contour, and ``title``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gtvlib.data.windows import window_hu, window_preset

    with_tumour = np.nonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0]
    chosen = with_tumour[np.unique(np.linspace(0, len(with_tumour) - 1, min(panels, len(with_tumour))).round().astype(int))]
    lung = window_preset("lung")
    figure, axes = plt.subplots(1, len(chosen), figsize=(2.6 * len(chosen), 3.0), squeeze=False)
    dy, dx = volume.spacing_mm[1:]
    for axis, k in zip(axes[0], chosen):
        axis.imshow(window_hu(volume.hu[k], lung.center, lung.width), cmap="gray", aspect=dy / dx)
        axis.contour(mask[k].astype(float), levels=[0.5], colors="red", linewidths=1.0)
        axis.set_title(f"z = {volume.slice_positions_mm[k]:.1f} mm", fontsize=8)
        axis.axis("off")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_outputs(out: str | Path, ct_slices: list[Dataset], volume: Volume, mask: np.ndarray, model_name: str,
                  model_version: str, summary: dict, roi_name: str = ROI_NAME) -> dict[str, Path]:
    """Write RTSTRUCT, SEG, QA picture and summary into ``out`` (created); return {kind: path}.

    Everything is written into a temporary folder beside ``out`` and moved in only when all is written, so an
    error leaves ``out`` as it was. Files of an earlier export under the same names are replaced.
    """
    out, files = Path(out), output_files(roi_name)
    rtstruct, seg = structure_datasets(ct_slices, mask, model_name, model_version, roi_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        pydicom.dcmwrite(staging / files["rtstruct"], rtstruct, enforce_file_format=True)
        seg.save_as(staging / files["seg"], enforce_file_format=True)
        qa_figure(volume, mask, f"{roi_name}: {summary['volume_cm3']:.2f} cm³ on {summary['slices_with_tumour']} slices; "
                                f"{model_name} ({model_version})", staging / files["qa"])
        (staging / files["summary"]).write_text(json.dumps(summary, indent=1) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for kind, name in files.items():
            (staging / name).replace(out / name)
            written[kind] = out / name
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
