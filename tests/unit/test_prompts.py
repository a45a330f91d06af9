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
