"""Prompted inference: what reaches the model, the clinic's prompts, corrective clicks, the comparison table.

A stand-in for SAM-Med2D with a known answer makes the expected masks exact: it segments its box prompt,
plus discs of radius ``radius`` px around positive clicks, minus those around negative ones. The real tiny
model checks the shapes and the mask feedback.
"""

from types import SimpleNamespace

import numpy as np
import torch

from gtvlib.inference import prompt_comparison, refine_with_clicks, segment, segment_from_click
from gtvlib.metrics import dice


class BoxAndClicks(torch.nn.Module):
    def __init__(self, radius: float = 3.0):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        self.radius, self.calls = radius, []

    def forward(self, images, boxes=None, points=None, mask_inputs=None):
        self.calls.append({"images": images, "boxes": boxes, "points": points, "mask_inputs": mask_inputs})
        b, _, h, w = images.shape
        rows, columns = torch.arange(h)[:, None], torch.arange(w)[None, :]
        inside = torch.zeros(b, h, w, dtype=torch.bool)
        for i in range(b):
            if boxes is not None:
                x0, y0, x1, y1 = boxes[i]
                inside[i] = (columns >= x0) & (columns <= x1) & (rows >= y0) & (rows <= y1)
            if points is not None:
                for (x, y), label in zip(points[0][i], points[1][i]):
                    disc = (columns - x) ** 2 + (rows - y) ** 2 <= self.radius ** 2
                    inside[i] = inside[i] | disc if label == 1 else inside[i] & ~disc
        logits = inside[:, None].float() * 20 - 10 + self.anchor
        return {"masks": logits, "low_res": logits[..., ::4, ::4]}


def _disc(size: int, centre, radius: float) -> np.ndarray:
    rows, columns = np.mgrid[:size, :size]
    return (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 <= radius ** 2


def test_segment_sends_the_sam_input_and_the_box():
    model = BoxAndClicks()
    image = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    mask, low_res = segment(model, image, box=[4, 6, 10, 9])
    sent = model.calls[-1]["images"]
    assert sent.shape == (1, 3, 32, 32) and torch.equal(sent[0, 2], torch.from_numpy(image) * 255.0)
    expected = np.zeros((32, 32), bool)
    expected[6:10, 4:11] = True  # rows y0..y1, columns x0..x1, inclusive
    np.testing.assert_array_equal(mask, expected)
    assert low_res.shape == (1, 1, 8, 8) and not model.training


def test_one_click_with_a_box_around_it():
    model = BoxAndClicks()
    mask = segment_from_click(model, np.zeros((32, 32), np.float32), (10, 12), box_size_px=8)
    np.testing.assert_array_equal(model.calls[-1]["boxes"][0].numpy(), [6, 8, 14, 16])
    assert mask.sum() == 9 * 9 and mask[8:17, 6:15].all()
    clipped = segment_from_click(model, np.zeros((32, 32), np.float32), (1, 30), box_size_px=8)
    assert clipped.sum() == 6 * 6  # the box [-3, 26, 5, 34] is clipped to the image: columns 0–5, rows 26–31


def test_corrective_clicks_improve_and_feed_the_mask_back():
    model = BoxAndClicks(radius=3)
    reference = _disc(32, (16, 16), 6)
    scores = refine_with_clicks(model, np.zeros((32, 32), np.float32), reference, clicks=3, seed=0)
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores) and scores[-1] > scores[0]
    assert model.calls[0]["mask_inputs"] is None
    assert model.calls[1]["mask_inputs"].shape == (1, 1, 8, 8)  # the previous low-res logits, through a sigmoid
    assert 0 < float(model.calls[1]["mask_inputs"].min()) and float(model.calls[1]["mask_inputs"].max()) < 1
    assert len(model.calls[2]["points"][0][0]) == 3  # first click plus two corrections


def test_a_perfect_first_click_stops_the_refinement():
    model = BoxAndClicks(radius=0)
    reference = np.zeros((16, 16), bool)
    reference[5, 7] = True
    assert refine_with_clicks(model, np.zeros((16, 16), np.float32), reference, clicks=3, seed=1) == [1.0, 1.0, 1.0]
    assert len(model.calls) == 1


def test_prompt_comparison_table():
    model = BoxAndClicks(radius=3)
    reference = _disc(32, (12, 20), 4)
    images, labels = np.zeros((2, 32, 32), np.float16), np.stack([np.zeros((32, 32), np.uint8), reference.astype(np.uint8)])
    cache = SimpleNamespace(load=lambda pid: (images, labels))
    prediction = _disc(32, (12, 21), 4)
    table = prompt_comparison(model, cache, [("P1", 1)], {("P1", 1): prediction}, clicks=2, seed=0)
    assert list(table.columns) == ["ground-truth box", "one click, box twice the tumour's extent", "1 click(s)", "2 click(s)"]
    assert table["ground-truth box"][0] == dice(prediction, reference)
    # the tumour spans 9 px: a box of 18 px around its centre, i.e. 19 × 19 pixel centres
    assert table["one click, box twice the tumour's extent"][0] == dice(_box_of_side(32, (12, 20), 18), reference)


def _box_of_side(size: int, centre, side: int) -> np.ndarray:
    half = side / 2
    rows, columns = np.mgrid[:size, :size]
    return (np.abs(rows - centre[0]) <= half) & (np.abs(columns - centre[1]) <= half)


def test_the_real_model_takes_clicks_and_its_own_mask_back():
    from gtvlib.models import build_model

    torch.manual_seed(0)
    model = build_model("sam_med2d_tiny")
    image = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    mask, low_res = segment(model, image, points=np.array([[30.0, 31.0]]), labels=np.array([1]))
    assert mask.shape == (64, 64) and mask.dtype == bool and low_res.shape == (1, 1, 64, 64)
    scores = refine_with_clicks(model, image, _disc(64, (31, 30), 6), clicks=2, seed=0)
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
