"""What one training step optimises, whatever the data: an objective builds what it trains beside the model
(a discriminator, optimisers), takes one step on a batch and says which validation score early stopping watches.

* :class:`Supervised` — a segmentation loss on the model's heads: the GTV-SAMGAN generator loss (SAM-Med2D, the
  baselines), an HCF loss on 2-class logits (SANet), or Dice + binary cross entropy (the 3-D U-Net, the PET/CT
  networks): :data:`LOSSES`.
* :class:`Adversarial` — GTV-SAMGAN: the generator loss plus the mask discriminator's verdict; the authors' code
  choices are named options (``generator_every=5``, ``discriminator_input="logits"``).
* :class:`SliceClassification` — HCF's gate: cross entropy of a slice classifier's two logits.

A batch is a dict: ``image`` (the model's input), ``label`` (B, 1, …) float32 and, for a box-prompted model,
``box`` (B, 4). bf16 autocast on CUDA; full fp32 elsewhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from gtvlib.util.errors import GtvError

DISCRIMINATOR_INPUTS = ("probabilities", "logits")
GENERATOR_LOSS = "generator"  # GTV-SAMGAN's Dice + focal + mask-IoU loss with LossWeights (METHODS.md §1)


def dice_bce(logits, labels, per_sample: bool = False):
    """Dice of the sigmoid probabilities (the batch as one set, or each sample's averaged) + binary cross entropy of
    one-logit outputs. Per sample, the loss of a batch is the mean of its samples' losses, so the shards of a batch
    on DDP ranks average to the whole batch's gradient: the same training on any number of processes."""
    import torch

    from gtvlib.losses import dice_loss

    return dice_loss(logits, labels, per_sample=per_sample) + torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)


def _losses() -> dict:
    from gtvlib.losses import HCF_LOSSES

    return {**HCF_LOSSES, "dice_bce": dice_bce, "dice_bce_per_sample": lambda logits, labels: dice_bce(logits, labels, True)}


LOSSES = (GENERATOR_LOSS, "dice", "ce", "focal", "dice_ce", "cr", "dice_bce", "dice_bce_per_sample")


def loss_over_heads(heads, labels, predicted_iou, d_fake, weights):
    """The generator loss averaged over the supervised heads (one head unless a network is deeply supervised); the
    adversarial term ``d_fake`` (or None) on the main head."""
    import torch

    from gtvlib.losses import generator_loss

    losses = [generator_loss(head.float(), labels, None if predicted_iou is None else predicted_iou.float(),
                             d_fake if i == 0 else None, weights)[0] for i, head in enumerate(heads)]
    return torch.stack(losses).mean()


def _update(optimizer, loss) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _weights(values: dict):
    from gtvlib.losses import LossWeights

    return LossWeights(**values)


def _default_weights() -> dict:
    from gtvlib.losses import LossWeights

    return asdict(LossWeights())


def supervised_step(net, optimizer, images, labels, boxes, weights=None, outputs=None, loss_function=None) -> float:
    """One update on a batch: ``outputs(net, images, boxes)`` → (heads, predicted IoU) (a registry entry's
    ``training_outputs``; SAM-Med2D's by default), then ``loss_function(logits, labels)`` averaged over the heads, or
    with None the generator loss with ``weights`` (:class:`~gtvlib.losses.LossWeights`)."""
    import torch

    from gtvlib.util.device import autocast

    if outputs is None:
        from gtvlib.models.sam_med2d import sam_training_outputs as outputs
    with autocast(images.device):
        heads, predicted_iou = outputs(net, images, boxes)
    if loss_function is None:
        loss = loss_over_heads(heads, labels, predicted_iou, None, weights if weights is not None else _weights({}))
    else:
        loss = torch.stack([loss_function(head.float(), labels) for head in heads]).mean()
    return _update(optimizer, loss)


def gan_step(net, judge, optimizer_g, optimizer_d, images, labels, boxes, weights=None, update_generator: bool = True,
             discriminator_input: str = "probabilities", outputs=None) -> tuple[float | None, float]:
    """One GTV-SAMGAN step: the discriminator learns real (ground truth) from generated masks, then, when
    ``update_generator``, the generator learns from the segmentation losses and the discriminator's verdict.
    Returns (generator loss or None, discriminator loss)."""
    import torch

    from gtvlib.losses import discriminator_loss
    from gtvlib.util.device import autocast

    if outputs is None:
        from gtvlib.models.sam_med2d import sam_training_outputs as outputs
    with autocast(images.device):
        heads, predicted_iou = outputs(net, images, boxes)
    logits = heads[0].float()
    fake = logits if discriminator_input == "logits" else torch.sigmoid(logits)
    loss_d = _update(optimizer_d, discriminator_loss(judge(labels), judge(fake.detach())))  # 1 − D(real) + D(fake)
    if not update_generator:
        return None, loss_d
    loss_g = loss_over_heads(heads, labels, predicted_iou, judge(fake), weights if weights is not None else _weights({}))
    return _update(optimizer_g, loss_g), loss_d


def classifier_step(net, optimizer, images, labels, outputs) -> float:
    """One update of a slice classifier: cross entropy of its 2-class logits (B, 2) against whether each label
    slice (B, 1, S, S) holds tumour."""
    import torch

    from gtvlib.util.device import autocast

    targets = labels.flatten(1).any(dim=1).long()
    with autocast(images.device):
        heads, _ = outputs(net, images, None)
    return _update(optimizer, torch.nn.functional.cross_entropy(heads[0].float(), targets))


def _distributed(module, world: int):
    """``module`` wrapped for DDP when ``world`` > 1, its batch normalisation pooled over the global batch
    (:mod:`gtvlib.training.sync_norm`), so that two processes train what one does."""
    import torch

    if world <= 1:
        return module
    from gtvlib.training.sync_norm import synchronise_batch_norm

    module = synchronise_batch_norm(module, next(module.parameters()).device)
    return torch.nn.parallel.DistributedDataParallel(module, find_unused_parameters=True)


@dataclass
class Supervised:
    """A segmentation loss on every supervised head: ``loss`` one of :data:`LOSSES` (``"generator"``: GTV-SAMGAN's
    generator loss with ``weights``; an HCF loss on 2-class logits; ``"dice_bce"`` on one logit)."""

    loss: str = GENERATOR_LOSS
    weights: dict = field(default_factory=_default_weights)
    kind = "supervised"
    task = "segmentation"
    monitor = "val_patient_dice"

    def check(self, spec) -> None:
        if self.loss not in LOSSES:
            raise GtvError(f"loss={self.loss!r}; expected one of {list(LOSSES)}")
        if spec.task == "slice classification":
            raise GtvError(f"model {spec.name!r} is a slice classifier; expected the SliceClassification objective")

    def settings(self) -> dict:
        return {"loss": self.loss, **({"weights": dict(self.weights)} if self.loss == GENERATOR_LOSS else {})}

    def build(self, model, config, spec, device, world: int) -> dict:
        """The checkpointed parts ({name: module or optimiser}) and the schedulable optimisers."""
        from gtvlib.training.config import optimizer_for

        self._net, self._spec, self._losses = _distributed(model, world), spec, []
        self._loss = None if self.loss == GENERATOR_LOSS else _losses()[self.loss]
        self._weights = _weights(self.weights)
        self._optimizer = optimizer_for(model.parameters(), config)
        return {"model": model, "optimizer": self._optimizer}, {"scheduler": self._optimizer}

    def step(self, index: int, batch: dict) -> None:
        self._losses.append(supervised_step(self._net, self._optimizer, batch["image"], batch["label"], batch.get("box"),
                                            self._weights, self._spec.training_outputs, self._loss))

    def epoch_stats(self) -> dict:
        """The epoch's mean training loss (``train_g_loss`` for the generator loss, as GTV-SAMGAN's records name it),
        and a fresh start for the next epoch."""
        name = "train_g_loss" if self.loss == GENERATOR_LOSS or self._spec.task == "segmentation" else "train_loss"
        stats, self._losses = {name: float(np.mean(self._losses))}, []
        return stats

    @property
    def net(self):
        return self._net


@dataclass
class Adversarial:
    """GTV-SAMGAN: the discriminator learns real from generated masks every step; the generator learns every
    ``generator_every``-th step from its loss (``weights``) plus the discriminator's verdict on
    ``discriminator_input`` (``"probabilities"``, or ``"logits"`` as the authors' code)."""

    weights: dict = field(default_factory=_default_weights)
    generator_every: int = 1
    discriminator_input: str = "probabilities"
    kind = "adversarial"
    task = "segmentation"
    monitor = "val_patient_dice"

    def check(self, spec) -> None:
        if self.discriminator_input not in DISCRIMINATOR_INPUTS:
            raise GtvError(f"discriminator_input={self.discriminator_input!r}; expected one of {DISCRIMINATOR_INPUTS}")
        if isinstance(self.generator_every, bool) or not isinstance(self.generator_every, int) or self.generator_every < 1:
            raise GtvError(f"generator_every={self.generator_every!r}; expected an integer ≥ 1 (steps)")
        if spec.task != "segmentation":
            raise GtvError(f"model {spec.name!r} is a {spec.task} model; the adversarial objective judges 2-D masks: "
                           "expected a 2-D segmentation model on the slice route")

    def settings(self) -> dict:
        return {"weights": dict(self.weights), "generator_every": self.generator_every,
                "discriminator_input": self.discriminator_input}

    def build(self, model, config, spec, device, world: int) -> tuple[dict, dict]:
        from gtvlib.models.discriminator import Discriminator
        from gtvlib.training.config import optimizer_for

        discriminator = Discriminator(spec.input_size).to(device)
        self._optimizer_g, self._optimizer_d = optimizer_for(model.parameters(), config), optimizer_for(discriminator.parameters(), config)
        self._net, self._judge = _distributed(model, world), _distributed(discriminator, world)
        self._spec, self._weights, self._g, self._d = spec, _weights(self.weights), [], []
        parts = {"model": model, "discriminator": discriminator, "optimizer": self._optimizer_g, "optimizer_d": self._optimizer_d}
        return parts, {"scheduler": self._optimizer_g, "scheduler_d": self._optimizer_d}

    def step(self, index: int, batch: dict) -> None:
        loss_g, loss_d = gan_step(self._net, self._judge, self._optimizer_g, self._optimizer_d, batch["image"], batch["label"],
                                  batch["box"], self._weights, index % self.generator_every == 0, self.discriminator_input,
                                  self._spec.training_outputs)
        self._d.append(loss_d)
        if loss_g is not None:
            self._g.append(loss_g)

    def epoch_stats(self) -> dict:
        stats = {"train_g_loss": float(np.mean(self._g)), "train_d_loss": float(np.mean(self._d))}
        self._g, self._d = [], []
        return stats

    @property
    def net(self):
        return self._net


@dataclass
class SliceClassification:
    """HCF's gate: cross entropy of a slice classifier's two logits against whether the slice holds tumour;
    validated by the slice F1 (early stopping watches it)."""

    kind = "classification"
    task = "slice classification"
    monitor = "val_slice_f1"

    def check(self, spec) -> None:
        if spec.task != "slice classification":
            raise GtvError(f"model {spec.name!r} is a {spec.task} model; the classification objective trains a slice "
                           "classifier (task 'slice classification', e.g. hcf_classifier)")

    def settings(self) -> dict:
        return {}

    def build(self, model, config, spec, device, world: int) -> tuple[dict, dict]:
        from gtvlib.training.config import optimizer_for

        self._net, self._spec, self._losses = _distributed(model, world), spec, []
        self._optimizer = optimizer_for(model.parameters(), config)
        return {"model": model, "optimizer": self._optimizer}, {"scheduler": self._optimizer}

    def step(self, index: int, batch: dict) -> None:
        self._losses.append(classifier_step(self._net, self._optimizer, batch["image"], batch["label"],
                                            self._spec.training_outputs))

    def epoch_stats(self) -> dict:
        stats, self._losses = {"train_loss": float(np.mean(self._losses))}, []
        return stats

    @property
    def net(self):
        return self._net


OBJECTIVES = {"supervised": Supervised, "adversarial": Adversarial, "classification": SliceClassification}


def objective_from(settings: dict):
    """The objective a ``params.yaml`` or a run configuration names: ``{"kind": …, **its settings}``."""
    settings = dict(settings or {})
    kind = settings.pop("kind", None)
    if kind not in OBJECTIVES:
        raise GtvError(f"objective kind {kind!r}; expected one of {sorted(OBJECTIVES)}")
    try:
        return OBJECTIVES[kind](**settings)
    except TypeError as exc:
        raise GtvError(f"objective {kind!r}: {exc}; expected the fields of {OBJECTIVES[kind].__name__}") from None
