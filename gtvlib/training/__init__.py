"""Training: one loop for every model family, whatever its input and its objective.

==================  ===============================================================================
``config``          :class:`FitConfig` — what the loop itself uses (epochs, batch, optimiser, schedule,
                    early stopping, validation cadence, start weights, seed, device, checkpoints kept)
``routes``          what a training reads and how it is validated: :class:`SliceRoute` (2-D slices),
                    :class:`PatchRoute` (3-D patches), :class:`StackRoute` (2.5-D PET/CT stacks)
``objectives``      what a step optimises: :class:`Supervised`, :class:`Adversarial` (GTV-SAMGAN),
                    :class:`SliceClassification` (HCF's gate)
``loop``            :func:`fit` — the only epoch loop: DDP under ``torchrun``, bf16 autocast on CUDA, exact
                    resume, early stopping, schedules; :func:`run_for` — a run's folder from its settings
``plan``            :class:`Training` — a config, a route and an objective as one value, built from one flat
                    vocabulary (each setting sent to its owner), changed for a fold or an ablation
``command``         ``python -m gtvlib.train --config run.yaml``: a run (config, route, objective, data) from a
                    file, under ``torchrun`` too
``sync_norm``       batch normalisation over the global batch under DDP on any device (gloo CPUs included),
                    so that two processes train what one process does
==================  ===============================================================================

``fit(FitConfig(model="unet3d_small", steps_per_epoch=20, ...), PatchRoute(volumes), Supervised("dice_bce"))``
trains a 3-D U-Net; the same call with a :class:`SliceRoute` and :class:`Adversarial` trains GTV-SAMGAN. A new
route or objective is a class with the methods its module's docstring lists; nothing else changes.
"""

from gtvlib.training.config import FitConfig
from gtvlib.training.loop import fit, run_for, stopped_early
from gtvlib.training.objectives import Adversarial, SliceClassification, Supervised
from gtvlib.training.plan import Training
from gtvlib.training.routes import PatchRoute, SliceRoute, StackRoute

__all__ = ["FitConfig", "Training", "fit", "run_for", "stopped_early", "SliceRoute", "PatchRoute", "StackRoute", "Supervised",
           "Adversarial", "SliceClassification"]
