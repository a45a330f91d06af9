"""A trained model ready to predict: read from a run folder, one of its checkpoints, or a bare weights file.

What the model needs besides its weights comes from the run record (``params.yaml``): the registered
architecture and the route it was trained on (``route``: its kind and options). A 2-D run (route ``slices``)
records the HU window, crop and input size of its training slices (``slice_spec``) and the geometry of the
training images (``source_geometry``: matrix and pixel size), from which :mod:`gtvlib.segment` lays the same
model grid on a new scan; a 3-D run (``patches``) the window, training spacing and sliding windows
(``volume_spec``); a PET/CT run (``stacks``) its window, SUV scale and target in the route's options. A bare weights file (e.g. SAM-Med2D's ``sam-med2d_b.pth``) names its
architecture explicitly and is run on the whole image at the model's input size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gtvlib.util.errors import GtvError


@dataclass
class TrainedModel:
    """A model with its weights loaded, in evaluation mode, and what its training slices were.

    ``name``: the registry name; ``spec``: its :class:`~gtvlib.models.spec.ModelSpec`; ``slice_spec``: dict of
    :class:`~gtvlib.data.slices.cache.SliceSpec` fields; ``source_geometry``: ``image_px`` (rows, columns) and
    ``pixel_mm`` (dy, dx) of the training images, or None (unknown: the whole input image is the model's field
    of view); ``version``: where the weights came from (run folder and epoch, or file name), as written into
    exported DICOM; ``route``: the training route's kind and options (a bare weights file: ``slices``);
    ``volume_spec``: a 3-D run's window, spacing, patch and overlap (empty otherwise).
    """

    name: str
    spec: object
    model: object
    slice_spec: dict
    source_geometry: dict | None
    version: str
    route: dict = field(default_factory=lambda: {"kind": "slices"})
    volume_spec: dict = field(default_factory=dict)

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
        config, route = params.get("config") or {}, params.get("route") or {"kind": "slices"}
        needed = {"slices": "slice_spec", "patches": "volume_spec", "stacks": "route"}.get(route.get("kind"), "route")
        if "model" not in config or needed not in params:
            raise GtvError(f"{folder / 'params.yaml'}: no model or {needed} recorded; expected a training run's record")
        name = architecture or config["model"]
        model = build_model(name)
        epoch = int((checkpoint or run.checkpoint_path()).stem.removeprefix("epoch_"))
        run.restore(model, epoch)
        version = f"{folder.name} epoch {epoch}"
        slice_spec, geometry = params.get("slice_spec") or {}, params.get("source_geometry")
        volume_spec = params.get("volume_spec") or {}
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
        geometry, version, route, volume_spec = None, path.name, {"kind": "slices"}, {}
    spec = model_spec(name)
    if spec.training_outputs is None:
        raise GtvError(f"model {name!r} is a no-training reference; expected a trained model")
    if slice_spec.get("size") not in (None, spec.input_size):
        raise GtvError(f"{path}: trained on {slice_spec['size']}-px slices, but {name} takes {spec.input_size} px")
    model.eval()
    return TrainedModel(name, spec, model, dict(slice_spec), geometry, version, dict(route), dict(volume_spec))



def load_run(run_folder: str | os.PathLike, epoch: int | None = None, route: str | None = None,
             what: str = "a run of that route") -> TrainedModel:
    """:func:`load_trained` of a run folder (its checkpoint of ``epoch``, default the last), refused with a
    :class:`GtvError` naming the folder unless its record names ``route`` (``slices``, ``patches`` or ``stacks``)."""
    from gtvlib.runs import RunRecord

    run = RunRecord(Path(run_folder), writer=False)
    recorded = (run.params().get("route") or {"kind": "slices"}).get("kind")
    if route is not None and recorded != route:
        raise GtvError(f"{run_folder}: not {what} (params.yaml records route {recorded!r}); expected a run of route "
                       f"{route!r}")
    return load_trained(run.folder if epoch is None else run.checkpoint_path(epoch))


def load_volume_model(run_folder: str | os.PathLike, epoch: int | None = None):
    """The 3-D network of a run of the patch route with its weights of ``epoch`` (default: the last checkpoint), in
    evaluation mode on the CPU."""
    return load_run(run_folder, epoch, "patches", "a 3-D training run").model
