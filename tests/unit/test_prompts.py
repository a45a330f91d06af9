import numpy as np
import pytest

from gtvlib import prompts
from gtvlib.util.errors import GtvError


def _mask():
    mask = np.zeros((40, 40), bool)
    mask[10:20, 5:25] = True  # the largest component
    mask[30:33, 30:33] = True
    return mask


def test_box_is_the_largest_component_and_jitter_is_bounded():
    mask = _mask()
    np.testing.assert_array_equal(prompts.box_from_mask(mask), [5, 10, 24, 19])
    rng = np.random.default_rng(0)
    boxes = np.array([prompts.box_from_mask(mask, 5, rng) for _ in range(300)])
    shifts = boxes - np.array([5, 10, 24, 19])
    assert np.all(shifts[:, 0] == shifts[:, 2]) and np.all(shifts[:, 1] == shifts[:, 3])  # one offset: a shift
    assert np.abs(shifts).max() == 5 and len({tuple(s) for s in shifts[:, :2]}) > 50
    small = np.zeros((40, 40), bool)
    small[20:24, 20:26] = True  # 4 px tall: the shift stays within half the shorter side
    assert np.abs(np.array([prompts.box_from_mask(small, 5, rng) for _ in range(200)]) - [20, 20, 25, 23]).max() == 2
    with pytest.raises(GtvError, match="empty mask"):
        prompts.box_from_mask(np.zeros((5, 5), bool))


def test_points_and_labels():
    mask = _mask()
    rng = np.random.default_rng(1)
    points, labels = prompts.sample_points(mask, 1, rng)
    assert labels.tolist() == [1] and mask[int(points[0, 1]), int(points[0, 0])]
    points, labels = prompts.sample_points(mask, 6, rng)
    assert labels.tolist() == [1, 1, 1, 0, 0, 0]
    assert all(mask[int(y), int(x)] == bool(label) for (x, y), label in zip(points, labels))


def test_click_from_error():
    reference = _mask()
    prediction = reference.copy()
    prediction[10:20, 15:25] = False  # half of the tumour missed
    (x, y), label = prompts.click_from_error(prediction, reference)
    assert label == 1 and reference[int(y), int(x)] and not prediction[int(y), int(x)]
    false_alarm = reference.copy()
    false_alarm[0:8, 0:30] = True
    (x, y), label = prompts.click_from_error(false_alarm, reference)
    assert label == 0 and not reference[int(y), int(x)]
    assert prompts.click_from_error(reference, reference) is None


def test_box_around_a_click():
    np.testing.assert_array_equal(prompts.box_around_point((10, 12), 8, 64), [6, 8, 14, 16])
    np.testing.assert_array_equal(prompts.box_around_point((2, 60), 10, 64), [0, 55, 7, 63])


def _lesion(z=6, size=48):
    """A spindle-shaped lesion (z, S, S): wide in the middle slices, narrow at its ends, and a second small lesion."""
    labels = np.zeros((z + 4, size, size), bool)
    for k, half in zip(range(1, z + 1), [1, 3, 6, 6, 3, 1]):
        labels[k, 20 - half:20 + half + 1, 24 - half:24 + half + 1] = True
    labels[8, 40:43, 5:8] = True  # another lesion, off the first one's slices
    return labels


def test_clinical_box_prompts_carry_what_they_say_and_no_more():
    labels = _lesion()
    rng = np.random.default_rng(0)
    exact = prompts.BoxPrompt("truth").patient_boxes(labels, 1.0, rng)
    assert sorted(exact) == [1, 2, 3, 4, 5, 6, 8]
    np.testing.assert_array_equal(exact[1], [23, 19, 25, 21])
    # drawn with no error is the exact box; with 3 mm at 1 mm/px each edge moves by a normal error of SD 3 px
    np.testing.assert_array_equal(prompts.BoxPrompt("drawn", 0.0).patient_boxes(labels, 1.0, rng)[3], exact[3])
    moved = np.array([prompts.BoxPrompt("drawn", 3.0).slice_box(labels[3], 1.0, rng) for _ in range(400)]) - exact[3]
    assert 2.5 < moved.std() < 3.5 and abs(moved.mean()) < 0.5
    # one box per lesion: the same box on every slice of the lesion, holding all of it; the ends get a loose box
    lesion = prompts.BoxPrompt("lesion", 0.0).patient_boxes(labels, 1.0, rng)
    assert all(np.array_equal(lesion[k], [18, 14, 30, 26]) for k in range(1, 7))
    np.testing.assert_array_equal(lesion[8], exact[8])  # the other lesion keeps a box of its own
    # a click: a square of the typical side (mm → px) around a tumour pixel, never the tumour's own size
    click = prompts.BoxPrompt("click", typical_side_mm=10.0).slice_box(labels[3], 0.5, rng)
    assert click[2] - click[0] == pytest.approx(20.0) and click[3] - click[1] == pytest.approx(20.0)
    centre = ((click[1] + click[3]) / 2, (click[0] + click[2]) / 2)
    assert labels[3][int(round(centre[0])), int(round(centre[1]))]


def test_box_prompts_refuse_what_they_cannot_draw():
    with pytest.raises(GtvError, match="box prompt 'oracle' is unknown"):
        prompts.BoxPrompt("oracle")
    with pytest.raises(GtvError, match="typical tumour extent"):
        prompts.BoxPrompt("click")
    with pytest.raises(GtvError, match="edge_sd_mm"):
        prompts.BoxPrompt("drawn", -1.0)


class _Cache:
    """The two methods of a slice cache that prompt_boxes reads."""

    def __init__(self, volumes):
        self.volumes = volumes

    def load(self, pid):
        return None, self.volumes[pid]

    def spacing_mm(self, pid):
        return (5.0, 1.0, 1.0)


def test_prompt_boxes_are_seeded_per_patient_not_per_company():
    cache = _Cache({"A": _lesion(), "B": _lesion()[:, ::-1]})
    drawn = prompts.BoxPrompt("lesion", 3.0)
    both = prompts.prompt_boxes(drawn, cache, ["A", "B"])
    alone = prompts.prompt_boxes(drawn, cache, ["B"])
    assert all(np.array_equal(both[key], alone[key]) for key in alone)
    assert not np.array_equal(both[("A", 3)], prompts.prompt_boxes(drawn, cache, ["A"], seed=1)[("A", 3)])
    assert prompts.typical_side_mm(cache, ["A"]) == pytest.approx(np.median([3, 7, 13, 13, 7, 3, 3]))


class _ImageCache(_Cache):
    def load(self, pid):
        labels = self.volumes[pid]
        return labels.astype(np.float32), labels


def test_training_boxes_follow_the_prompt_through_flips_and_shifts():
    """A lesion box drawn without error always holds the whole tumour of every slice, whatever the augmentation; a
    drawn box per slice moves its edges independently (not a shift of the whole box)."""
    from gtvlib.data.slices.dataset import SliceDataset

    labels = _lesion()
    cache = _ImageCache({"A": labels})
    pairs = [("A", k) for k in range(1, 7)]
    lesion = SliceDataset(cache, pairs, seed=0, augment=True, box_jitter_px=1, shift_px=4,
                          box_prompt=prompts.BoxPrompt("lesion", 0.0))
    for epoch in range(4):
        lesion.set_epoch(epoch)
        for index in range(len(pairs)):
            item = lesion[index]
            x0, y0, x1, y1 = item["box"].numpy().astype(int)
            label = item["label"][0].numpy() > 0
            assert label[y0:y1 + 1, x0:x1 + 1].sum() == label.sum()
            assert (x1 - x0, y1 - y0) in ((12, 12),)  # the lesion's box (13 px), not the slice's own
    drawn = SliceDataset(cache, pairs, seed=0, box_prompt=prompts.BoxPrompt("drawn", 3.0))
    offsets = set()
    for epoch in range(30):
        drawn.set_epoch(epoch)
        offsets.add(tuple(drawn[2]["box"].numpy() - prompts.box_from_mask(labels[3])))
    assert len(offsets) > 10 and any(o[0] != o[2] for o in offsets)  # edges move on their own
