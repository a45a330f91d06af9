"""The no-training references, the MONAI baselines, and the quick profile's training options."""

import numpy as np
import pytest
import torch

from gtvlib.data.slices.dataset import SliceDataset, shift_image
from gtvlib.losses import generator_loss
from gtvlib.metrics import dice
from gtvlib.models import build_model, model_registry, model_spec
from gtvlib.models.references import PromptReference, box_per_slice, otsu_threshold, reference_mask, threshold_reference
from gtvlib.models.sam_med2d import box_mask_logits
from gtvlib.training import Training
from gtvlib.training.config import FitConfig, learning_rate_schedule
from gtvlib.training.loop import build_for_training
from gtvlib.util.errors import GtvError


def _disk(size=64, centre=(30, 34), radius=10.45):
    rows, columns = np.mgrid[:size, :size]
    return (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 <= radius ** 2


def test_references_on_a_disk_match_geometry():
    disk = _disk()
    image = np.where(disk, 0.8, 0.1).astype(np.float32)
    rows, columns = np.nonzero(disk)
    box = (columns.min(), rows.min(), columns.max(), rows.max())
    box_mask = reference_mask("box", image, box)
    assert box_mask.sum() == 21 * 21 and box_mask[disk].all()
    assert dice(box_mask, disk) == pytest.approx(2 * disk.sum() / (disk.sum() + 441))  # about π/4 of the square
    # the inscribed circle of a 21-px box has radius 10.5 px: the disk up to where its next ring of pixels begins
    assert dice(reference_mask("ellipse", image, box), disk) > 0.97
    assert dice(reference_mask("threshold", image, box), disk) == 1.0  # a bright disk on a dark square
    logits = PromptReference("ellipse")(torch.from_numpy(image)[None, None], torch.tensor([box], dtype=torch.float32))
    assert logits.shape == (1, 1, 64, 64) and ((logits > 0)[0, 0].numpy() == reference_mask("ellipse", image, box)).all()
    with pytest.raises(GtvError, match="reference rule 'circle' is unknown"):
        PromptReference("circle")


def test_the_box_per_slice_is_each_tumour_slice_bounding_box():
    mask = np.zeros((4, 10, 10), bool)
    mask[1, 2, 3] = mask[1, 5, 7] = True  # two pixels: their box spans both
    mask[2, 4:6, 4:6] = True
    box = box_per_slice(mask)
    assert box[1].sum() == 4 * 5 and box[1, 2:6, 3:8].all() and box[2].sum() == 4 and not box[[0, 3]].any()
    with pytest.raises(GtvError, match=r"mask of shape \(10, 10\); expected a volume"):
        box_per_slice(mask[1])


def test_the_threshold_reference_takes_soft_tissue_only():
    hu = np.array([[[-1000.0, -101.0, -100.0, 40.0, 200.0, 201.0, 1200.0]]])
    assert threshold_reference(hu).tolist() == [[[False, False, True, True, True, False, False]]]
    with pytest.raises(GtvError, match="expected low < high"):
        threshold_reference(hu, 50.0, 50.0)


def test_otsu_threshold_maximises_between_class_variance():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.2, 0.05, 500), rng.normal(0.7, 0.05, 300)])
    threshold = otsu_threshold(values)

    def between(t):
        low, high = values[values <= t], values[values > t]
        return low.size * high.size * (low.mean() - high.mean()) ** 2

    candidates = np.linspace(0.25, 0.65, 81)
    assert between(threshold) >= max(between(t) for t in candidates) * 0.999
    assert 0.35 < threshold < 0.55
    assert otsu_threshold(np.full(10, 0.4)) == 0.4


def test_references_need_no_training_and_are_refused_by_the_trainer(tmp_path):
    assert model_spec("prompt_box").training_outputs is None
    with pytest.raises(GtvError, match="'prompt_box' is not trained"):
        build_for_training(FitConfig(model="prompt_box"), model_spec("prompt_box"))


@pytest.mark.parametrize("name", ["unet", "unetpp", "unetpp_ds", "swin_unetr", "dynunet", "attention_unet"])
def test_baselines_are_monai_networks_with_one_output_channel(name):
    spec = model_spec(name)
    model = build_model(name)
    assert type(model).__module__.startswith("monai.networks.nets") and spec.prompt == "none"
    images = torch.rand(2, 1, spec.input_size, spec.input_size)
    model.train()
    heads, iou = spec.training_outputs(model, images, None)
    assert iou is None and all(h.shape == (2, 1, spec.input_size, spec.input_size) for h in heads)
    assert len(heads) == {"unetpp_ds": 4, "dynunet": 3}.get(name, 1)
    model.eval()
    with torch.no_grad():
        assert spec.predict(model, images, None).shape == (2, 1, spec.input_size, spec.input_size)


def test_registry_families_are_disjoint():
    families = {spec.family for spec in model_registry().values()}
    assert families == {"sam_med2d", "baselines", "references", "hcf", "unet3d", "igtv"}


def test_generator_loss_without_an_iou_head():
    logits, target = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    total, parts = generator_loss(logits, target, None)
    assert "iou" not in parts and total.item() == pytest.approx(20 * parts["focal"] + parts["dice"], rel=1e-5)


def test_box_mask_prompt_marks_the_box_on_the_low_res_grid():
    logits = box_mask_logits(torch.tensor([[8.0, 16.0, 23.0, 31.0]]), image_size=64, mask_size=64)
    inside = logits[0, 0] > 0
    assert inside.sum() == 16 * 16 and inside[16:32, 8:24].all()
    half = box_mask_logits(torch.tensor([[8.0, 16.0, 23.0, 31.0]]), image_size=64, mask_size=32)[0, 0] > 0
    assert half.sum() == 8 * 8 and half[8:16, 4:12].all()


def test_shift_moves_image_and_label_together(small_cohort, tmp_path):
    from gtvlib.data import slices

    data = slices.prepared_from_parts(small_cohort, ["SYNTH-001"], ["SYNTH-002"], crop=slices.Box(16, 16, 112, 112), size=64,
                                      cache_dir=tmp_path)
    pairs = data.pairs("training")[:6]
    plain, shifted = SliceDataset(data.cache, pairs, box_jitter_px=0), SliceDataset(data.cache, pairs, 5, box_jitter_px=0, shift_px=6)
    moved = 0
    for i in range(len(pairs)):
        a, b = plain[i], shifted[i]
        label_a, label_b = a["label"][0].numpy(), b["label"][0].numpy()
        offset = np.subtract(np.argwhere(label_b).mean(0), np.argwhere(label_a).mean(0))
        assert np.abs(offset).max() <= 6.01 and label_b.sum() <= label_a.sum()
        moved += bool(np.abs(offset).max() > 0)
        # the image moved by the same offset: the tumour's bright pixels follow the label
        assert b["image"][0].numpy()[label_b > 0].mean() > b["image"][0].numpy().mean()
        x0, y0, x1, y1 = b["box"].numpy().astype(int)
        assert label_b[y0:y1 + 1, x0:x1 + 1].sum() >= 0.9 * label_b.sum()
    assert moved >= 3
    assert (shift_image(np.arange(9).reshape(3, 3), (1, 1), "constant") == [[0, 0, 0], [0, 0, 1], [0, 3, 4]]).all()


def test_warmup_cosine_schedule_and_its_run_key(small_cohort, tmp_path):
    config = FitConfig(epochs=10, lr=1.0, schedule="warmup_cosine")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = learning_rate_schedule(optimizer, config, steps_per_epoch=20)  # 200 steps, 10 of warm-up
    rates = []
    for _ in range(200):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert rates[10 + 95] == pytest.approx(0.5, abs=0.02) and rates[-1] < 0.001
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    from gtvlib.data import slices

    data = slices.prepared_from_parts(small_cohort, ["SYNTH-001"], ["SYNTH-002"], size=64, cache_dir=tmp_path, build=False)
    gan = lambda **settings: Training.of("slices", data, "adversarial", **settings)
    constant = [gan(epochs=e).run_for(tmp_path).name for e in (2, 3)]
    scheduled = [gan(epochs=e, schedule="warmup_cosine").run_for(tmp_path).name for e in (2, 3)]
    assert constant[0] == constant[1] and scheduled[0] != scheduled[1]
    with pytest.raises(GtvError, match="schedule='linear'"):
        gan(schedule="linear").fit(run=object())
