"""HCF (seed 001): the ResNet18 slice classifier and SANet (shapes, parameter counts against MONAI's ResNet18,
the alignment warp at zero offset), and the 2-class losses with the CR loss against hand computation."""

import numpy as np
import pytest
import torch

from gtvlib import losses
from gtvlib.models import build_model, describe_model
from gtvlib.models.hcf import ResNet18, SANet, build_slice_classifier, predict_foreground, warp
from gtvlib.util.errors import GtvError


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_classifier_is_resnet18_as_monai_builds_it():
    from monai.networks.nets import ResNet

    reference = ResNet(block="basic", layers=[2, 2, 2, 2], block_inplanes=[64, 128, 256, 512], spatial_dims=2,
                       n_input_channels=1, conv1_t_size=7, conv1_t_stride=2, shortcut_type="B", num_classes=2,
                       bias_downsample=False)  # torchvision's shortcut convs have no bias
    ours = build_slice_classifier()
    assert _count(ours) == _count(reference) == 11_171_266  # torchvision's ResNet18 with a 1-channel stem and 2 classes
    torch.manual_seed(0)
    ours.eval()
    assert ours(torch.rand(2, 1, 64, 64)).shape == (2, 2)
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.2 for m in ours.modules())


def test_sanet_encoder_maps_and_output_shapes():
    encoder = ResNet18(dilate_last=True).eval()
    with torch.no_grad():
        maps = encoder(torch.rand(1, 1, 512, 512), features=True)
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 128, 128), (128, 64, 64), (256, 32, 32), (512, 32, 32)]
    model = SANet().eval()
    with torch.no_grad():
        for size in (64, 96, 128):
            assert model(torch.rand(2, 1, size, size)).shape == (2, 2, size, size)
    count = _count(model)
    assert 12.5e6 < count < 12.9e6  # the paper's 12.82 M; the difference is in details the paper leaves open


def test_zero_offset_warp_is_the_identity_and_the_authors_warp_halves_the_border():
    x = torch.rand(2, 3, 12, 16)
    zero = torch.zeros(2, 2, 12, 16)
    assert torch.allclose(warp(x, zero), x, atol=1e-6)
    ones = warp(torch.ones(1, 1, 12, 16), zero[:1], authors=True)[0, 0]
    assert torch.allclose(ones[1:-1, 1:-1], torch.ones(10, 14), atol=1e-6)
    assert torch.allclose(ones[0, 1:-1], torch.full((14,), 0.5), atol=1e-6) and torch.allclose(ones[1:-1, -1], torch.full((10,), 0.5), atol=1e-6)
    assert ones[0, 0].item() == pytest.approx(0.25)
    interior = warp(x, zero, authors=True)[:, :, 1:-1, 1:-1]
    assert not torch.allclose(interior, x[:, :, 1:-1, 1:-1], atol=1e-3)  # and it shifts the interior too


def test_the_registered_variants_build_and_predict_foreground_log_odds():
    torch.manual_seed(0)
    for name in ("sanet", "sanet_authors_warp", "sanet_no_alignment", "sanet_no_ppm"):
        model = build_model(name).eval()
        images = torch.rand(2, 1, 64, 64)
        with torch.no_grad():
            logits, foreground = model(images), predict_foreground(model, images)
        assert foreground.shape == (2, 1, 64, 64)
        assert torch.equal(foreground[:, 0] > 0, logits.argmax(dim=1) == 1)
    assert _count(build_model("sanet_no_alignment")) == _count(build_model("sanet")) - 3 * (2 * 128 * 64 + 128 * 2 * 9)
    assert "sanet: SANet: ResNet18 (dilated, OS 16)" in describe_model("sanet", build_model("sanet"))


@pytest.mark.parametrize("shape, message", [((1, 3, 64, 64), r"input of shape \(1, 3, 64, 64\); expected \(batch, 1, S, S\)"),
                                            ((1, 1, 100, 100), "input of 100 × 100 px; expected sides that are multiples of 32"),
                                            ((1, 1, 32, 32), "at least 64 px")])
def test_bad_inputs_are_named(shape, message):
    with pytest.raises(GtvError, match=message):
        SANet()(torch.rand(*shape))
    with pytest.raises(GtvError, match=message):
        build_slice_classifier()(torch.rand(*shape))


def test_losses_against_hand_computation():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, 0.0]], [[-1.0, 1.0], [0.5, 3.0]]]])  # (1, 2, 2, 2)
    target = torch.tensor([[[[0, 1], [1, 0]]]])
    z = logits[0].numpy()
    p = np.exp(z) / np.exp(z).sum(axis=0)
    t = target[0, 0].numpy()
    ce = -np.mean(np.log(np.where(t == 1, p[1], p[0])))
    dice = 1 - (2 * (p[1] * t).sum() + 1) / (p[1].sum() + t.sum() + 1)
    epsilon = -np.mean(np.log(p))
    p_true = np.where(t == 1, p[1], p[0])
    focal = np.mean(-(1 - p_true) ** 2 * np.log(p_true))
    assert losses.softmax_cross_entropy(logits, target).item() == pytest.approx(ce, rel=1e-6)
    assert losses.softmax_dice_loss(logits, target).item() == pytest.approx(dice, rel=1e-6)
    assert losses.uniform_cross_entropy(logits).item() == pytest.approx(epsilon, rel=1e-6)
    assert losses.softmax_focal_loss(logits, target).item() == pytest.approx(focal, rel=1e-6)
    assert losses.cr_loss(logits, target).item() == pytest.approx(dice + 0.9 * ce + 0.1 * epsilon, rel=1e-6)
    assert losses.HCF_LOSSES["dice_ce"](logits, target).item() == pytest.approx(dice + ce, rel=1e-6)
    assert losses.softmax_focal_loss(logits, target, gamma=0.0).item() == pytest.approx(ce, rel=1e-6)
    two = torch.cat([logits, logits.flip(-1)])  # per sample, averaged
    targets = torch.cat([target, target.flip(-1)])
    expected = (losses.softmax_dice_loss(logits, target) + losses.softmax_dice_loss(logits.flip(-1), target.flip(-1))) / 2
    assert losses.softmax_dice_loss(two, targets).item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_gate_empties_rejected_slices():
    from gtvlib.evaluation.cascade import gate, slice_scores

    mask = np.ones((4, 3, 3), bool)
    kept = gate(mask, np.array([True, False, True, False]))
    assert kept[[0, 2]].all() and not kept[[1, 3]].any()
    with pytest.raises(GtvError, match="3 slice decisions for a mask of 4 slices"):
        gate(mask, np.ones(3, bool))
    scores = slice_scores(np.array([1, 1, 0, 0, 1], bool), np.array([1, 0, 1, 0, 0], bool))
    assert (scores["recall"], scores["precision"]) == (0.5, pytest.approx(1 / 3))
    assert np.isnan(slice_scores(np.zeros(3, bool), np.zeros(3, bool))["recall"])


def test_voting_keeps_what_more_than_half_of_the_folds_mark():
    from gtvlib.evaluation.cascade import vote

    folds = [np.zeros((1, 1, 6), bool) for _ in range(5)]
    for fold, mask in enumerate(folds):
        mask[0, 0, : fold + 1] = True  # voxel k is marked by 5 − k folds
    assert vote(folds)[0, 0].tolist() == [True, True, True, False, False, False]  # 5, 4, 3 of 5 kept; 2 not
    assert vote(folds[:4])[0, 0].tolist() == [True, True, False, False, False, False]  # 4 and 3 of 4 kept; 2 of 4 is not more than half
    with pytest.raises(GtvError, match="fold masks of shapes"):
        vote([np.zeros((2, 2, 2)), np.zeros((2, 2, 3))])


def test_the_three_largest_components_are_kept():
    from gtvlib.evaluation.cascade import largest_components

    mask = np.zeros((5, 20, 20), bool)
    for row, side in [(0, 2), (4, 3), (9, 1), (13, 4)]:  # cubes of 8, 27, 1 and 64 voxels
        mask[:side, row:row + side, 0:side] = True
    kept = largest_components(mask, keep=3)
    assert kept.sum() == 8 + 27 + 64 and not kept[0, 9, 0]
    diagonal = np.zeros((3, 3, 3), bool)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = True  # touching at a corner: one component with 26-connectivity
    assert largest_components(diagonal, keep=1).sum() == 2 and largest_components(diagonal, keep=1, connectivity=6).sum() == 1


def test_cascade_table_counts_what_the_gate_removes(small_cohort, tmp_path):
    from gtvlib.data import slices
    from gtvlib.evaluation.cascade import cascade_table
    from gtvlib.metrics import hd95

    data = slices.prepared_from_parts(small_cohort, ["SYNTH-001"], ["SYNTH-003"], size=64, cache_dir=tmp_path)
    label = np.asarray(data.cache.load("SYNTH-003")[1], bool)
    tumour = label.reshape(len(label), -1).any(axis=1)
    false_slices = np.nonzero(~tumour)[0][:3]
    predicted = label.copy()
    predicted[false_slices, :4, :4] = True  # 16 false pixels on each of three tumour-free slices
    predicted[false_slices[0], 60:, 60:] = True  # and a second component on the first
    rows = {r["variant"]: r for r in cascade_table({"SYNTH-003": predicted}, data.cache, {"SYNTH-003": tumour}, keep_components=1)}
    spacing = data.cache.spacing_mm("SYNTH-003")
    alone, cascade = rows["segmenter alone"], rows["cascade"]
    assert alone["fp_slices"] == 3 and alone["false_positive_cm3"] == pytest.approx((3 * 16 + 16) * np.prod(spacing) / 1000)
    assert cascade["fp_slices"] == 0 and cascade["dice"] == 1.0 and alone["dice"] < 1.0
    assert alone["hd95_voxels"] == pytest.approx(hd95(predicted, label, (1, 1, 1))) and alone["hd95_mm"] > alone["hd95_voxels"]
    assert rows["cascade + 1 largest components"]["dice"] <= 1.0
    everywhere = np.zeros_like(label)  # a patient with tumour on every slice has no false-positive slice to count
    everywhere[:, 30:34, 30:34] = True
    data.cache.load = lambda pid, load=data.cache.load: (load(pid)[0], everywhere)
    row = cascade_table({"SYNTH-003": everywhere}, data.cache)[0]
    assert (row["fp_slices"], row["false_positive_cm3"], row["dice"]) == (0, 0.0, 1.0)
