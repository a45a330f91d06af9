"""One inferer per training route: a trained model (:class:`~gtvlib.models.trained.TrainedModel`) on a new scan, the
scan prepared as the run's record says its training data were. Each returns the mask on the scan's own grid,
bool (z, y, x).

* :class:`SliceInferer` — a 2-D run: the model grid laid on the scan (:mod:`gtvlib.segment.grid`), a box prompt for
  a box-prompted model.
* :class:`PatchInferer` — a 3-D run: the scan resampled to the training spacing (when the run resampled), windowed,
  predicted by sliding windows within the body's in-plane box, the logits mapped back onto the scan's grid.
* :class:`StackInferer` — a 2.5-D PET/CT run: the PET (SUVbw) resampled onto the CT's grid, every slice predicted
  within the body's box.
"""

from __future__ import annotations

import numpy as np

from gtvlib.util.errors import GtvError


def predict_volume(trained, images: np.ndarray, labels: np.ndarray | None, batch_size: int = 16,
                   description: str = "segmenting", show_progress: bool = True) -> np.ndarray:
    """Logits (z, S, S) of ``images`` (z, S, S) in [0, 1] on the model grid. A box-prompted model predicts only
    the slices whose ``labels`` hold a box (its prompt is drawn from them); the others get the outside logit."""
    import torch

    from gtvlib.segment.grid import OUTSIDE_LOGIT
    from gtvlib.util.progress import progress

    if trained.spec.task != "segmentation":
        raise GtvError(f"{trained.name} is a {trained.spec.task} model (one decision per slice); expected a segmentation "
                       "model to draw the GTV")
    device = next(trained.model.parameters()).device
    if trained.prompt_free:
        todo = np.arange(images.shape[0])
    else:
        if labels is None:
            raise GtvError(f"{trained.name} needs a box prompt on every slice it segments; give --prompt box=… or "
                           "click=… (mm), or --boxes-from a prompt-free run")
        todo = np.nonzero(labels.reshape(labels.shape[0], -1).any(axis=1))[0]
    logits = np.full(images.shape, OUTSIDE_LOGIT, dtype=np.float32)
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    with torch.no_grad():
        for batch in progress(batches, description, unit="batch", enabled=show_progress):
            image_t = torch.from_numpy(np.asarray(images[batch], np.float32))[:, None].to(device)
            label_t = (torch.zeros_like(image_t) if labels is None
                       else torch.from_numpy(labels[batch].astype(np.float32))[:, None].to(device))
            logits[batch] = trained.spec.predict(trained.model, image_t, label_t)[:, 0].float().cpu().numpy()
    return logits


def predict_on_scan(trained, volume, prompt_mask: np.ndarray | None = None, show_progress: bool = False) -> np.ndarray:
    """A trained model's GTV on ``volume``'s own grid: bool (z, y, x).

    A box-prompted model (SAM-Med2D) takes the box of ``prompt_mask`` (bool (z, y, x) on the scan, e.g. the
    reference GTV: the GTV-SAMGAN protocol) on each slice that holds it; a prompt-free model needs none.
    """
    grid, images = seen_by(trained, volume)
    labels = None if prompt_mask is None else grid.mask_on_grid(prompt_mask)
    if not trained.prompt_free and (labels is None or not labels.any()):
        raise GtvError(f"{trained.name} needs a box prompt: give a non-empty prompt_mask on the scan")
    return grid.to_scan(predict_volume(trained, images, labels, show_progress=show_progress), volume.shape)


def grid_mask_on_scan(trained, volume, mask: np.ndarray) -> np.ndarray:
    """A mask on ``trained``'s model grid (z, S, S) bool — e.g. a cascade's, voted over fold models — on
    ``volume``'s own grid: bool (z, y, x), resampled as the model's logits are (±1 → bilinear → > 0)."""
    from gtvlib.segment.grid import model_grid

    grid = model_grid(volume, trained.slice_spec, trained.source_geometry)
    mask = np.asarray(mask, bool)
    if mask.shape != (volume.shape[0], grid.size, grid.size):
        raise GtvError(f"mask of shape {mask.shape}; expected {(volume.shape[0], grid.size, grid.size)}: the slices of "
                       f"the scan on {trained.name}'s {grid.size}-px grid")
    return grid.to_scan(np.where(mask, 1.0, -1.0).astype(np.float32), volume.shape)


def seen_by(trained, volume) -> tuple:
    """A trained model's grid on ``volume`` and the scan on it, windowed as in training: (grid, (z, S, S) in [0, 1])."""
    from gtvlib.segment.grid import model_grid

    grid = model_grid(volume, trained.slice_spec, trained.source_geometry)
    return grid, grid.images(volume, trained.slice_spec["window_center_hu"], trained.slice_spec["window_width_hu"])


class SliceInferer:
    """A 2-D run on a scan: :func:`gtvlib.segment.predict_on_scan` (``prompt_mask``: where a box-prompted model takes
    its boxes)."""

    reads_pet = False

    def __init__(self, trained):
        self.trained = trained

    def __call__(self, volume, pet=None, prompt_mask=None) -> np.ndarray:
        return predict_on_scan(self.trained, volume, prompt_mask)


class PatchInferer:
    """A 3-D run on a scan, prepared as its ``volume_spec`` records (window, training spacing, patch, overlap)."""

    reads_pet = False

    def __init__(self, trained):
        spec = trained.volume_spec
        if not spec.get("window"):
            raise GtvError(f"{trained.version}: the run records no CT window (its volumes were built by hand); expected a "
                           "run trained on gtvlib.data.volumes.volume_set, which records how a scan is prepared")
        self.trained, self.spec = trained, spec

    def __call__(self, volume, pet=None, prompt_mask=None) -> np.ndarray:
        from gtvlib.data.volumes import inference_box, resample_to_shape
        from gtvlib.data.windows import window_hu, window_preset
        from gtvlib.models.unet3d import sliding_window_logits

        hu, spacing = np.asarray(volume.hu, np.float32), tuple(float(s) for s in volume.spacing_mm)
        target = self.spec.get("spacing_mm")
        resampled = target is not None and not np.allclose(spacing, target, atol=1e-3)
        if resampled:
            shape = [max(1, int(round(n * s / t))) for n, s, t in zip(hu.shape, spacing, target)]
            hu = resample_to_shape(hu, spacing, target, shape)
        window = window_preset(self.spec["window"])
        logits = sliding_window_logits(self.trained.model, window_hu(hu, window.center, window.width),
                                       tuple(self.spec["patch"]), self.spec["overlap"], box=inference_box(hu))
        if resampled:
            logits = resample_to_shape(logits, target, spacing, volume.shape)
        return logits > 0


def predict_stacks(model, case, settings: dict, window: str = "mediastinal", suv_scale: float = 10.0, device=None,
                   batch: int = 16) -> np.ndarray:
    """A 2.5-D network's mask (z, y, x) bool of every slice of a PET/CT ``case``, predicted within the body's in-plane
    box (the largest region above −500 HU ± 4 pixels, zero-padded to the network's multiple); no GTV outside it.
    ``settings``: the network's registered settings (modalities, slices, widths)."""
    import torch

    from gtvlib.data.petct import stack_25d
    from gtvlib.data.volumes import inference_box

    step = 2 ** (len(settings["widths"]) - 1)
    box = inference_box(case.ct_hu)
    rows, columns = slice(box.row0, box.row1), slice(box.col0, box.col1)
    pad = ((0, 0), (0, 0), (0, -box.height % step), (0, -box.width % step))
    device = device or next(model.parameters()).device
    model.eval()
    mask = np.zeros(case.ct_hu.shape, bool)
    modalities = tuple(settings["modalities"])
    for start in range(0, case.ct_hu.shape[0], batch):
        zs = range(start, min(start + batch, case.ct_hu.shape[0]))
        x = np.stack([np.pad(stack_25d(case, z, settings["slices"], modalities, window, suv_scale)[..., rows, columns], pad)
                      for z in zs])
        with torch.no_grad():
            logits = model(torch.from_numpy(x).to(device))[:, 0].float().cpu().numpy()
        mask[zs.start:zs.stop, rows, columns] = logits[:, :box.height, :box.width] > 0
    return mask


class StackInferer:
    """A 2.5-D PET/CT run on a CT and its PET (a :class:`~gtvlib.data.volume.Volume` of SUVbw in the CT's frame of
    reference; not needed by a CT-only network)."""

    def __init__(self, trained):
        self.trained, self.settings, self.route = trained, trained.spec.settings, trained.route
        self.reads_pet = "PET" in self.settings["modalities"]

    def __call__(self, volume, pet=None, prompt_mask=None) -> np.ndarray:
        from gtvlib.data.petct import PetCtCase
        from gtvlib.data.volume import resample_onto

        suv = np.zeros(volume.shape, np.float32)
        if self.reads_pet:
            if pet is None:
                raise GtvError(f"{self.trained.name} reads PET and CT; give the PET series (--pet FOLDER) of this CT")
            ct_frame, pet_frame = volume.metadata.get("frame_of_reference_uid"), pet.metadata.get("frame_of_reference_uid")
            if ct_frame and pet_frame and ct_frame != pet_frame:
                raise GtvError("the PET and the CT lie in different frames of reference; expected a co-registered PET/CT "
                               "(register them first)")
            suv = resample_onto(pet.hu, pet.spacing_mm, pet.origin_xyz_mm, volume.shape, volume.spacing_mm,
                                volume.origin_xyz_mm)
        empty = np.zeros(volume.shape, bool)
        case = PetCtCase("scan", np.asarray(volume.hu, np.float32), suv, empty, empty, tuple(volume.spacing_mm), {})
        return predict_stacks(self.trained.model, case, self.settings, self.route.get("window", "mediastinal"),
                              self.route.get("suv_scale", 10.0))


def ensemble_mask(models, image: np.ndarray, patch, overlap: float = 0.25, box=None) -> np.ndarray:
    """GTV mask (z, y, x) bool of ``image`` (windowed, [0, 1]): the mean of the 3-D ``models``' sliding-window logits
    > 0 (the folds' models as one predictor, as nnU-Net ensembles its folds), windows of ``patch`` voxels confined to
    the in-plane ``box`` where given (the body's; :func:`~gtvlib.models.unet3d.sliding_window_logits`)."""
    from gtvlib.models.unet3d import sliding_window_logits

    if not models:
        raise GtvError("no models to predict with; expected the trained models of the folds")
    return np.mean([sliding_window_logits(m, image, patch, overlap, box=box) for m in models], axis=0) > 0


def ensemble_masks(models, data, patch, overlap: float = 0.25) -> dict[str, np.ndarray]:
    """:func:`ensemble_mask` of every patient of ``data`` (a :class:`~gtvlib.data.volumes.VolumeSet`), each within its
    body box: patient → bool (z, y, x)."""
    return {pid: ensemble_mask(models, data.images[pid], patch, overlap, data.boxes.get(pid)) for pid in data.images}


INFERERS = {"slices": SliceInferer, "patches": PatchInferer, "stacks": StackInferer}


def inferer_for(trained):
    """The inferer of the route ``trained`` was trained on (its record's ``route``)."""
    kind = trained.route.get("kind", "slices")
    if kind not in INFERERS:
        raise GtvError(f"{trained.version}: route {kind!r}; expected one of {sorted(INFERERS)}")
    return INFERERS[kind](trained)
