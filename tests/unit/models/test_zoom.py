"""The prompt-centred zoom of the tiny SAM-Med2D: window geometry, resampling both ways, and a zoomed forward
that equals the plain model run on the window by hand."""

from dataclasses import replace

import pytest
import torch

from gtvlib.models import build_model, model_spec
from gtvlib.models import sam_med2d as S


def rectangle(size: int, x0: int, y0: int, x1: int, y1: int) -> torch.Tensor:
    image = torch.zeros(1, 1, size, size)
    image[0, 0, y0:y1 + 1, x0:x1 + 1] = 1.0
    return image


def test_windows_are_twice_the_box_clamped_and_inside_the_image():
    boxes = torch.tensor([[40.0, 20.0, 45.0, 29.0],  # 6 × 10 px → side 20
                          [30.0, 30.0, 30.0, 30.0],  # 1 px → the minimum, 4
                          [0.0, 0.0, 50.0, 10.0],  # 51 px → 102, clamped to the image
                          [60.0, 60.0, 63.0, 63.0]])  # at the corner: moved inside
    windows = S.zoom_windows(boxes, 64, 2.0, 4)
    assert windows[:, 2].tolist() == [20.0, 4.0, 64.0, 8.0]
    assert windows[0, :2].tolist() == [33.0, 15.0]  # centre (43, 25) in edge coordinates, minus 10
    assert windows[1, :2].tolist() == [28.5, 28.5]  # centre 30.5, minus 2
    assert windows[2, :2].tolist() == [0.0, 0.0] and windows[3, :2].tolist() == [56.0, 56.0]
    assert ((windows[:, :2] >= 0) & (windows[:, :2] + windows[:, 2:] <= 64)).all()


def test_whole_image_window_is_the_identity():
    image = torch.rand(2, 3, 64, 64)
    to_window, to_image = S.window_thetas(torch.tensor([[0.0, 0.0, 64.0]] * 2), 64)
    assert torch.allclose(S.resample(image, to_window, 64), image, atol=1e-5)
    assert torch.allclose(S.paste(image, to_image, 64), image, atol=1e-5)
    assert torch.equal(S.box_in_window(torch.tensor([[3.0, 4.0, 20.0, 30.0]]), torch.tensor([[0.0, 0.0, 64.0]]), 64),
                       torch.tensor([[3.0, 4.0, 20.0, 30.0]]))


def test_zoom_and_paste_back_keep_a_mask_and_the_box_encloses_it():
    image = rectangle(64, 40, 20, 45, 29)
    boxes = torch.tensor([[40.0, 20.0, 45.0, 29.0]])
    windows = S.zoom_windows(boxes, 64, 2.0, 4)
    to_window, to_image = S.window_thetas(windows, 64)
    zoomed = S.resample(image, to_window, 64)[0, 0] > 0.5
    rows, columns = torch.nonzero(zoomed, as_tuple=True)
    box = S.box_in_window(boxes, windows, 64)[0]  # the box's outer edges, mapped: 22.4 … 40.6 in x
    assert columns.min() == 22 and columns.max() == 41 and rows.min() == 16 and rows.max() == 47
    assert box[0] <= columns.min() + 0.5 and box[2] >= columns.max() - 0.5
    assert box[1] <= rows.min() + 0.5 and box[3] >= rows.max() - 0.5
    back = S.paste(S.resample(image, to_window, 64) * 40 - 20, to_image, 64)
    assert torch.equal(back[0, 0] > 0, image[0, 0] > 0)
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[15:35, 33:53] = False
    assert (back[0, 0][outside] == S.ZOOM_BACKGROUND_LOGIT).all()
    centre = S.to_window_pixels(torch.tensor([[[42.5, 24.5]]]), windows, 64)  # the box centre → the window centre
    assert torch.allclose(centre, torch.tensor([[[31.5, 31.5]]]))


def test_zoomed_forward_is_the_plain_model_on_the_window():
    torch.manual_seed(0)
    zoomed = S.SamMed2D(S.TINY).eval()
    plain = S.SamMed2D(replace(S.TINY, prompt_zoom=0.0)).eval()
    plain.load_state_dict(zoomed.state_dict())
    images = torch.rand(2, 3, 64, 64) * 255
    boxes = torch.tensor([[10.0, 12.0, 19.0, 17.0], [30.0, 40.0, 33.0, 41.0]])
    with torch.no_grad():
        out = zoomed(images, boxes=boxes)
        windows = S.zoom_windows(boxes, 64, S.TINY.prompt_zoom, S.TINY.zoom_min_px)
        to_window, to_image = S.window_thetas(windows, 64)
        by_hand = plain(S.resample(images, to_window, 64), boxes=S.box_in_window(boxes, windows, 64))
    assert torch.allclose(out["masks"], S.paste(by_hand["low_res"], to_image, 64), atol=1e-5)
    assert torch.allclose(out["iou_pred"], by_hand["iou_pred"], atol=1e-6)
    assert (out["masks"][0, 0, 40:, 40:] == S.ZOOM_BACKGROUND_LOGIT).all()  # far from box 0's window
    with torch.no_grad():  # without a box (clicks only) the model does not zoom
        points = (torch.tensor([[[15.0, 15.0]]] * 2), torch.ones(2, 1))
        assert torch.allclose(zoomed(images, points=points)["masks"], plain(images, points=points)["masks"], atol=1e-6)


def test_zoomed_training_reaches_the_trained_parameters():
    model = build_model("sam_med2d_tiny")
    logits, iou = S.sam_training_outputs(model, torch.rand(2, 1, 64, 64), torch.tensor([[5.0, 5, 12, 12], [30.0, 30, 40, 44]]))
    (logits[0].sigmoid().mean() + iou.mean()).backward()
    assert all(p.grad is not None for p in model.mask_decoder.parameters() if p.requires_grad)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.image_encoder.named_parameters() if ".Adapter." in n)


def test_zoom_input_pixel_size(small_cohort, tmp_path):
    from gtvlib.data import slices

    data = slices.prepared_from_parts(small_cohort, ["SYNTH-001"], ["SYNTH-002"], size=64, cache_dir=tmp_path)
    pairs = data.pairs("validation")
    sizes = S.zoomed_input_pixel_mm(S.TINY, data.cache, pairs)
    grid_mm = data.cache.spacing_mm("SYNTH-002")[1]
    labels = torch.from_numpy(data.cache.load("SYNTH-002")[1][[k for _, k in pairs]].astype("float32"))[:, None]
    extent = (S.boxes_from_labels(labels)[:, 2:] - S.boxes_from_labels(labels)[:, :2]).max(dim=1).values + 1
    expected = (2 * extent).clamp(4, 64) * grid_mm / 64
    assert sizes.tolist() == pytest.approx(expected.tolist())
    assert (sizes < grid_mm).all()  # every tumour here is smaller than half the grid: the zoom magnifies


def test_the_architecture_enters_the_run_key(small_cohort, tmp_path, monkeypatch):
    from gtvlib.data import slices

    data = slices.prepared_from_parts(small_cohort, ["SYNTH-001"], ["SYNTH-002"], size=64, cache_dir=tmp_path, build=False)
    from gtvlib.training import Training

    before = Training.of("slices", data, "adversarial").run_for(tmp_path).name
    changed = replace(model_spec("sam_med2d_tiny"), settings={**model_spec("sam_med2d_tiny").settings, "prompt_zoom": 0.0})
    monkeypatch.setitem(S.REGISTRY, "sam_med2d_tiny", changed)
    assert Training.of("slices", data, "adversarial").run_for(tmp_path).name != before
