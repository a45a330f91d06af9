"""What a training reads and how it is validated: one route per shape of model input, each owning its data's
options, so an option cannot leak into a route that ignores it.

* :class:`SliceRoute` — 2-D: cached slices of :func:`gtvlib.data.slices.prepare` (balance sampling, box jitter,
  shift, flips), validated per slice and per patient in 3-D (:func:`gtvlib.evaluation.evaluate`), or by a slice
  classifier's decisions.
* :class:`PatchRoute` — 3-D: patches of a :class:`~gtvlib.data.volumes.VolumeSet` around the GTV and elsewhere,
  validated on whole volumes by sliding windows.
* :class:`StackRoute` — 2.5-D PET/CT: a slice and its neighbours per modality of a
  :class:`~gtvlib.data.petct.PetCtSet`, optionally as square crops, validated on every slice within the body's box.

A route answers: ``check(config, spec)`` (refuse what does not fit, before anything is written), ``prepare``,
``batches(config, epoch, rank, world, device)`` (the epoch's batches as dicts; seeded by seed and epoch, so a resumed
run equals an uninterrupted one; under DDP each rank takes its share of every global batch), ``evaluate`` and
``unscored`` (an epoch without validation), and what identifies its data (``data_key``) and describes it
(``facts``, written to ``params.yaml``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from gtvlib.util.errors import GtvError

VALIDATION_SLICES = ("tumour", "all")
VALIDATION_BATCH = {"tumour": 8, "all": 32}  # every slice of a patient: larger batches, a third less time on a CPU
SLICE_TASKS = ("segmentation", "slice classification")


@dataclass
class SliceRoute:
    """2-D training on cached slices (``data``: :class:`~gtvlib.data.slices.prepare.PreparedSlices`). ``balance``: the
    training slices' sampling (θ0: tumour slices only, the only choice for a box-prompted model); ``box_jitter_px``:
    the training box prompt's jitter (box-prompted models); ``augment``: seeded flips and transposes; ``shift_px``: a
    random translation of up to ± ``shift_px``; ``validation_slices``: ``"tumour"`` (the GTV-SAMGAN protocol) or
    ``"all"`` (false positives on tumour-free slices count). ``box_prompt``: how a box-prompted model's boxes are drawn
    in training and validation (:data:`gtvlib.prompts.BOX_PROMPTS`; ``truth``: the label's box shifted by up to
    ``box_jitter_px``, the paper's), edges off by ``prompt_edge_sd_mm``; a ``click`` prompt's square is the training
    patients' typical tumour extent."""

    data: object = field(repr=False)
    balance: str = "theta0"
    box_jitter_px: int = 5
    augment: bool = False
    shift_px: int = 0
    validation_slices: str = "tumour"
    box_prompt: str = "truth"
    prompt_edge_sd_mm: float = 3.0
    kind = "slices"

    def settings(self) -> dict:
        drawn = {} if self.box_prompt == "truth" else {"box_prompt": self.box_prompt,
                                                      "prompt_edge_sd_mm": self.prompt_edge_sd_mm}
        return {"balance": self.balance, "box_jitter_px": self.box_jitter_px, "augment": self.augment,
                "shift_px": self.shift_px, "validation_slices": self.validation_slices, **drawn}

    def prompt(self):
        """The :class:`~gtvlib.prompts.BoxPrompt` of this route (a click's square from the training patients)."""
        from gtvlib.prompts import BoxPrompt, typical_side_mm

        side = typical_side_mm(self.data.cache, self.data.training_ids) if self.box_prompt == "click" else 0.0
        return BoxPrompt(self.box_prompt, self.prompt_edge_sd_mm, side)

    def data_key(self) -> dict:
        cache = self.data.cache
        return {"spec": asdict(cache.spec), "cohort": str(cache.cohort), "training": list(self.data.training_ids),
                "validation": list(self.data.validation_ids)}

    def check(self, config, spec) -> None:
        if self.validation_slices not in VALIDATION_SLICES:
            raise GtvError(f"validation_slices={self.validation_slices!r}; expected one of {list(VALIDATION_SLICES)}")
        if spec.task not in SLICE_TASKS:
            raise GtvError(f"model {spec.name!r} is a {spec.task} model; the slice route trains 2-D networks "
                           f"(tasks {list(SLICE_TASKS)})")
        from gtvlib.prompts import BOX_PROMPTS

        if self.box_prompt not in BOX_PROMPTS:
            raise GtvError(f"box_prompt={self.box_prompt!r}; expected one of {list(BOX_PROMPTS)}")
        if self.box_prompt != "truth" and spec.prompt == "none":
            raise GtvError(f"box_prompt={self.box_prompt!r} with {spec.name}, which takes no prompt; expected 'truth'")
        if self.balance != "theta0" and spec.prompt != "none":
            raise GtvError(f"balance={self.balance!r} with {spec.name}, which needs a box on every slice; tumour-free "
                           "slices have none: expected balance='theta0' for a box-prompted model")
        grid = self.data.cache.load(self.data.training_ids[0])[0].shape[1:]
        if grid != (spec.input_size, spec.input_size):
            raise GtvError(f"cached slices are {grid}, the model {spec.name} takes {spec.input_size} × {spec.input_size}: "
                           "prepare the slices with size equal to the model input")

    def prepare(self, config, spec) -> None:
        """The training slices after balance sampling, with the seeded augmentation and, for a box-prompted model, a
        jittered box."""
        from gtvlib.data.slices.dataset import SliceDataset

        self.data.require_tumour_slices()
        pairs = self.data.pairs("training", self.balance, config.seed)
        if not pairs:
            raise GtvError(f"no tumour slices among the training patients {self.data.training_ids}")
        jitter = self.box_jitter_px if spec.prompt != "none" else None
        self._prompt = self.prompt() if spec.prompt != "none" else None
        self._dataset = SliceDataset(self.data.cache, pairs, config.seed, self.augment, jitter, self.shift_px, self._prompt)

    @property
    def dataset(self):
        return self._dataset

    def facts(self) -> dict:
        data = self.data
        return {"training_patients": list(data.training_ids), "validation_patients": list(data.validation_ids),
                "slice_spec": asdict(data.cache.spec), "source_geometry": data.cache.source_geometry(list(data.training_ids)),
                "cohort": str(data.cache.cohort), "training_slices": len(self._dataset)}

    def _loader(self, config, epoch: int, rank: int, world: int):
        import torch

        self._dataset.set_epoch(epoch)
        if world > 1:
            sampler = torch.utils.data.DistributedSampler(self._dataset, num_replicas=world, rank=rank, shuffle=True,
                                                          seed=config.seed)
            sampler.set_epoch(epoch)
            return torch.utils.data.DataLoader(self._dataset, batch_size=config.batch_size, sampler=sampler,
                                               num_workers=config.num_workers)
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        return torch.utils.data.DataLoader(self._dataset, batch_size=config.batch_size, shuffle=True, generator=generator,
                                           num_workers=config.num_workers)

    def steps(self, config, rank: int = 0, world: int = 1) -> int:
        """Optimiser steps per epoch: one pass over the training slices, or the first ``steps_per_epoch`` batches."""
        import math

        items = len(self._dataset) if world == 1 else math.ceil(len(self._dataset) / world)  # DistributedSampler's share
        whole = math.ceil(items / config.batch_size)
        return min(whole, config.steps_per_epoch) if config.steps_per_epoch else whole

    def batches(self, config, epoch: int, rank: int, world: int, device):
        from gtvlib.util.progress import progress

        loader = self._loader(config, epoch, rank, world)
        steps = self.steps(config, rank, world)
        for index, batch in enumerate(progress(loader, f"epoch {epoch}", total=steps, leave=False)):
            if index == steps:
                break
            yield {key: (value.to(device) if key in ("image", "label", "box") else value) for key, value in batch.items()}

    def evaluate(self, model, spec, objective, device):
        from gtvlib.evaluation.slices import evaluate, evaluate_classifier

        if objective.task == "slice classification":
            return evaluate_classifier(model, self.data.cache, self.data.validation_ids, device, spec.predict)
        prompts = None
        if getattr(self, "_prompt", None) is not None and self._prompt.kind != "truth":
            from gtvlib.prompts import prompt_boxes

            prompts = prompt_boxes(self._prompt, self.data.cache, self.data.validation_ids)
        return evaluate(model, self.data.cache, self.data.validation_ids, device, spec.predict,
                        slices=self.validation_slices, batch_size=VALIDATION_BATCH[self.validation_slices], prompts=prompts)

    def unscored(self, objective):
        from gtvlib.evaluation.results import unscored

        return unscored(objective.task, per_slice=True)

    def items(self, config) -> int:
        """Training items per epoch (slices): the order in which a pool takes jobs."""
        return len(self.data.pairs("training", self.balance, config.seed))


def _share(arrays, rank: int, world: int):
    """This rank's share of a global batch: every ``world``-th item from ``rank`` (all of it in one process)."""
    return tuple(a[rank::world] for a in arrays) if world > 1 else arrays


class _DrawnRoute:
    """The routes whose batches are drawn (not passes over a list): ``steps_per_epoch`` batches a epoch, the global
    batch drawn from a generator seeded by (seed, epoch) on every rank, each rank taking its share."""

    def steps(self, config, rank: int = 0, world: int = 1) -> int:
        return config.steps_per_epoch

    def _check_split(self, config) -> None:
        if not config.steps_per_epoch:
            raise GtvError(f"steps_per_epoch=0 with the {self.kind} route, whose batches are drawn; expected a number of "
                           "steps per epoch")
        if not 0 <= self.foreground_fraction <= 1:
            raise GtvError(f"foreground_fraction={self.foreground_fraction}; expected a fraction from 0 to 1")
        if not self.data.training_ids or not self.data.validation_ids:
            raise GtvError(f"{len(self.data.training_ids)} training and {len(self.data.validation_ids)} validation "
                           "patients; expected at least one of each")

    def batches(self, config, epoch: int, rank: int, world: int, device):
        import torch

        rng = np.random.default_rng([config.seed, epoch])
        for _ in range(config.steps_per_epoch):
            inputs, labels = _share(self.sample(config, rng), rank, world)
            yield {"image": torch.from_numpy(inputs).to(device), "label": torch.from_numpy(labels).to(device)}

    def unscored(self, objective):
        from gtvlib.evaluation.results import unscored

        return unscored(objective.task)

    def data_key(self) -> dict:
        return {"source": self.data.source, "training": list(self.data.training_ids),
                "validation": list(self.data.validation_ids)}

    def facts(self) -> dict:
        return {"training_patients": list(self.data.training_ids), "validation_patients": list(self.data.validation_ids),
                "source": self.data.source}

    def items(self, config) -> int:
        return config.steps_per_epoch * config.batch_size


@dataclass
class PatchRoute(_DrawnRoute):
    """3-D training on patches of a :class:`~gtvlib.data.volumes.VolumeSet` (``data``). ``patch``: (z, y, x) voxels, each
    a multiple of 8; ``foreground_fraction``: the share of patches centred on a GTV voxel; ``negatives``: where the
    others are centred (``"tissue"``: a voxel above −500 HU outside the GTV; ``"anywhere"``); ``augment``: random
    flips along each axis; ``overlap``: of the sliding windows at validation."""

    data: object = field(repr=False)
    patch: tuple[int, int, int] = (16, 32, 32)
    foreground_fraction: float = 0.5
    negatives: str = "tissue"
    augment: bool = True
    overlap: float = 0.25
    kind = "patches"

    def settings(self) -> dict:
        return {"patch": [int(p) for p in self.patch], "foreground_fraction": self.foreground_fraction,
                "negatives": self.negatives, "augment": self.augment, "overlap": self.overlap}

    def check(self, config, spec) -> None:
        from gtvlib.data.volumes import NEGATIVES
        from gtvlib.models.unet3d import MULTIPLE

        if spec.task != "volume segmentation":
            raise GtvError(f"model {spec.name!r} is a {spec.task} model; expected a 3-D network (task 'volume "
                           "segmentation', e.g. unet3d_small)")
        if len(self.patch) != 3 or any(int(p) <= 0 or int(p) % MULTIPLE for p in self.patch):
            raise GtvError(f"patch {tuple(self.patch)}; expected three sides in voxels, each a positive multiple of {MULTIPLE}")
        if self.negatives not in NEGATIVES:
            raise GtvError(f"negatives={self.negatives!r}; expected one of {list(NEGATIVES)}")
        self._check_split(config)
        if not any(self.data.labels[pid].any() for pid in self.data.training_ids):
            raise GtvError(f"no GTV voxel in the training patients {self.data.training_ids}; expected labelled volumes")

    def prepare(self, config, spec) -> None:
        pass

    def facts(self) -> dict:
        """The split and source, and how a new scan is prepared for the model: ``volume_spec`` (the CT window, the
        spacing volumes were resampled to or None, the patch and overlap of the sliding windows)."""
        resampled = self.data.resampled_mm
        return {**super().facts(), "volume_spec": {"window": self.data.window or None,
                                                   "spacing_mm": None if resampled is None else [float(s) for s in resampled],
                                                   "patch": [int(p) for p in self.patch], "overlap": self.overlap}}

    def sample(self, config, rng):
        from gtvlib.data.volumes import sample_patches

        return sample_patches(self.data, rng, config.batch_size, self.patch, self.foreground_fraction, self.negatives,
                              self.augment)

    def evaluate(self, model, spec, objective, device):
        from gtvlib.evaluation.volumes import evaluate_volumes

        return evaluate_volumes(model, self.data, self.data.validation_ids, self.patch, self.overlap, device)


@dataclass
class StackRoute(_DrawnRoute):
    """2.5-D PET/CT training on a :class:`~gtvlib.data.petct.PetCtSet` (``data``): the model's modalities and slices
    (from its registry entry) around a slice, its ``target`` (``"igtv"`` or ``"gtv"``) on the middle slice.
    ``patch_px``: side of square training crops (a multiple of the network's; 0: whole slices);
    ``foreground_fraction``: the share of slices (and crops) centred on the target; ``window``: the CT's; SUV divided
    by ``suv_scale``."""

    data: object = field(repr=False)
    target: str = "igtv"
    patch_px: int = 0
    foreground_fraction: float = 0.5
    window: str = "mediastinal"
    suv_scale: float = 10.0
    kind = "stacks"

    def settings(self) -> dict:
        return {"target": self.target, "patch_px": self.patch_px, "foreground_fraction": self.foreground_fraction,
                "window": self.window, "suv_scale": self.suv_scale}

    def check(self, config, spec) -> None:
        from gtvlib.data.petct import TARGETS

        task = "2.5-D PET/CT segmentation"
        if spec.task != task:
            raise GtvError(f"model {spec.name!r} is a {spec.task} model; expected a {task} network of the igtv family "
                           "(e.g. igtv_small)")
        if self.target not in TARGETS:
            raise GtvError(f"target={self.target!r}; expected one of {list(TARGETS)}")
        self._check_split(config)
        step = 2 ** (len(spec.settings["widths"]) - 1)
        smallest = min(min(case.ct_hu.shape[1:]) for case in self.data.cases.values())
        if self.patch_px and (self.patch_px % step or not 0 < self.patch_px <= smallest):
            raise GtvError(f"patch_px={self.patch_px}; expected a multiple of {step} from {step} to the smallest slice "
                           f"side ({smallest} px), or 0 for whole slices")

    def prepare(self, config, spec) -> None:
        self._settings = spec.settings

    def sample(self, config, rng):
        from gtvlib.data.petct import sample_stacks

        return sample_stacks(self.data, rng, config.batch_size, self._settings["slices"], self._settings["modalities"],
                             self.target, self.patch_px, self.foreground_fraction, self.window, self.suv_scale)

    def evaluate(self, model, spec, objective, device):
        from gtvlib.evaluation.volumes import evaluate_stacks

        return evaluate_stacks(model, self.data, self.data.validation_ids, spec.settings, self.target, self.window,
                               self.suv_scale, device)


ROUTES = {"slices": SliceRoute, "patches": PatchRoute, "stacks": StackRoute}
