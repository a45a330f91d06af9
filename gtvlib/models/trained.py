"""A trained model ready to predict: read from a run folder, one of its checkpoints, or a bare weights file.

What the model needs besides its weights comes from the run record (``params.yaml``): the registered
architecture, the HU window, crop and input size of its training slices (``slice_spec``) and the geometry of
the training images (``source_geometry``: matrix and pixel size), from which :mod:`gtvlib.segment` lays the
same model grid on a new scan. A bare weights file (e.g. SAM-Med2D's ``sam-med2d_b.pth``) names its
architecture explicitly and is run on the whole image at the model's input size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gtvlib.errors import GtvError


@dataclass
class TrainedModel:
    """A model with its weights loaded, in evaluation mode, and what its training slices were.

    ``name``: the registry name; ``spec``: its :class:`~gtvlib.models.spec.ModelSpec`; ``slice_spec``: dict of
    :class:`~gtvlib.data.slices.cache.SliceSpec` fields; ``source_geometry``: ``image_px`` (rows, columns) and
    ``pixel_mm`` (dy, dx) of the training images, or None (unknown: the whole input image is the model's field
    of view); ``version``: where the weights came from (run folder and epoch, or file name), as written into
    exported DICOM.
    """

    name: str
    spec: object
    model: object
    slice_spec: dict
    source_geometry: dict | None
    version: str

    @property
    def prompt_free(self) -> bool:
        return self.spec.prompt == "none"


def _run_folder_of(path: Path) -> tuple[Path, Path | None] | None:
    """(run folder, checkpoint or None) when ``path`` is a run folder or one of its checkpoints."""
    if path.is_dir() and (path / "params.yaml").is_file():
        return path, None
    if path.is_file() and path.parent.name == "checkpoints" and (path.parent.parent / "params.yaml").is_file():
        return path.parent.parent, path
    return None


def load_trained(path: str | os.PathLike, architecture: str | None = None, allow_unsafe_pickle: bool = False) -> TrainedModel:
    """Load a trained model from a run folder (its last checkpoint), a checkpoint inside a run, or a weights
    file with ``architecture`` (a registry name). Weights that do not fit are a :class:`GtvError`."""
    from gtvlib.models import build_model, model_spec
    from gtvlib.models.checkpoints import load_checkpoint
    from gtvlib.runs import RunRecord

    path = Path(path).expanduser()
    if not path.exists():
        raise GtvError(f"{path}: no such run folder or weights file (expected a folder under runs/ written by "
                       "training, one of its checkpoints, or a weights file with its architecture named)")
    found = _run_folder_of(path)
    if found is not None:
        folder, checkpoint = found
        run = RunRecord(folder)
        params = run.params()
        config = params.get("config") or {}
        if "model" not in config or "slice_spec" not in params:
            raise GtvError(f"{folder / 'params.yaml'}: no model or slice_spec recorded; expected a training run's record")
        name = architecture or config["model"]
        model = build_model(name)
        epoch = int((checkpoint or run.checkpoint_path()).stem.removeprefix("epoch_"))
        run.restore(model, epoch)
        version = f"{folder.name} epoch {epoch}"
        slice_spec, geometry = params["slice_spec"], params.get("source_geometry")
    else:
        if path.is_dir():
            raise GtvError(f"{path}: a folder without params.yaml; expected a training run's folder or a weights file")
        if architecture is None:
            raise GtvError(f"{path}: a weights file outside a run record; name its architecture (one of the registry, "
                           "e.g. sam_med2d_vit_b for sam-med2d_b.pth)")
        name = architecture
        model = build_model(name)
        print(load_checkpoint(model, path, allow_unsafe_pickle, strict=False))
        from gtvlib.data.windows import WINDOW_PRESETS_HU

        window = WINDOW_PRESETS_HU["hcf_paper"]
        slice_spec = {"window_center_hu": window.center, "window_width_hu": window.width, "crop": None,
                      "size": model_spec(name).input_size}
        geometry, version = None, path.name
    spec = model_spec(name)
    if spec.training_outputs is None:
        raise GtvError(f"model {name!r} is a no-training reference; expected a trained model")
    if slice_spec.get("size") not in (None, spec.input_size):
        raise GtvError(f"{path}: trained on {slice_spec['size']}-px slices, but {name} takes {spec.input_size} px")
    model.eval()
    return TrainedModel(name, spec, model, dict(slice_spec), geometry, version)

