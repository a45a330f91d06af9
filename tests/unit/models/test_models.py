"""SAM-Med2D on segment-anything's classes: shapes, adapter keys, one-to-one decoding, checkpoints."""

import subprocess
import sys

import pytest
import torch

from gtvlib.models import build_model
from gtvlib.models.checkpoints import load_checkpoint
from gtvlib.models.discriminator import Discriminator
from gtvlib.models.sam_med2d import sam_modeling
from gtvlib.util.errors import GtvError


@pytest.fixture(scope="module")
def vit_b():
    return build_model("sam_med2d_vit_b")


def test_importing_models_needs_no_torchvision():
    code = ("import sys; from gtvlib.models import build_model; m = build_model('sam_med2d_tiny'); "
            "print('torchvision' in sys.modules, type(m.mask_decoder).__mro__[1].__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "segment_anything.modeling.mask_decoder"]  # SAM's own classes underneath


def test_vit_b_keys_and_shapes_match_sam_med2d(vit_b):
    state = vit_b.state_dict()
    assert state["image_encoder.pos_embed"].shape == (1, 16, 16, 768)
    for block in range(12):
        rel = (31, 64) if block in (2, 5, 8, 11) else (27, 64)
        assert state[f"image_encoder.blocks.{block}.attn.rel_pos_h"].shape == rel
        prefix = f"image_encoder.blocks.{block}.Adapter."
        assert {k[len(prefix):]: tuple(v.shape) for k, v in state.items() if k.startswith(prefix)} == {
            "norm.weight": (768,), "norm.bias": (768,), "channel.0.weight": (192, 768), "channel.2.weight": (768, 192),
            "spatial.0.weight": (768, 768, 3, 3), "spatial.2.weight": (768, 768, 4, 4)}
    trainable = {name.split(".")[0] for name, p in vit_b.named_parameters() if p.requires_grad}
    assert trainable == {"image_encoder", "prompt_encoder", "mask_decoder"}
    frozen_encoder = [n for n, p in vit_b.image_encoder.named_parameters() if not p.requires_grad]
    assert frozen_encoder and all(".Adapter." not in n for n in frozen_encoder)
    assert all(p.requires_grad for n, p in vit_b.image_encoder.named_parameters() if ".Adapter." in n)


def test_adapter_runs_beside_the_mlp(vit_b):
    """Zeroing an adapter's output (norm weight and bias) makes the block exactly SAM's block."""
    block = vit_b.image_encoder.blocks[0]
    x = torch.randn(1, 16, 16, 768)
    with torch.no_grad():
        with_adapter = block(x)
        block.Adapter.norm.weight.zero_()
        block.Adapter.norm.bias.zero_()
        sam_block = sam_modeling().image_encoder.Block.forward(block, x)
        assert torch.allclose(block(x), sam_block, atol=1e-5)
        assert not torch.allclose(with_adapter, sam_block, atol=1e-3)


def test_tiny_forward_one_to_one_and_best_mask():
    torch.manual_seed(0)
    model = build_model("sam_med2d_tiny").eval()
    images = torch.rand(3, 3, 64, 64) * 255
    boxes = torch.tensor([[5.0, 5.0, 30.0, 30.0], [20.0, 10.0, 50.0, 40.0], [0.0, 0.0, 63.0, 63.0]])
    with torch.no_grad():
        out = model(images, boxes=boxes)
        assert out["masks"].shape == (3, 1, 64, 64) and out["low_res"].shape == (3, 1, 64, 64)  # 4 × the 16 × 16 token grid
        assert out["all_masks"].shape == (3, 3, 64, 64) and out["all_iou"].shape == (3, 3)
        best = out["all_iou"].argmax(dim=1)
        for i in range(3):
            assert torch.equal(out["low_res"][i, 0], out["all_masks"][i, best[i]])
        single = model(images[1:2], boxes=boxes[1:2])  # pairing is one-to-one: sample 1 alone gives the same
        assert torch.allclose(single["low_res"][0], out["low_res"][1], atol=1e-5)
        points = (torch.tensor([[[30.0, 30.0], [5.0, 5.0]]] * 3), torch.tensor([[1, 0]] * 3))
        assert model(images, points=points, mask_inputs=out["low_res"])["masks"].shape == (3, 1, 64, 64)
    with pytest.raises(GtvError, match="expected \\(B, 3, 64, 64\\)"):
        model(torch.rand(1, 3, 32, 32), boxes=boxes[:1])


def test_gradient_reaches_only_the_kept_mask():
    from dataclasses import replace

    from gtvlib.models.sam_med2d import TINY, SamMed2D

    model = SamMed2D(replace(TINY, prompt_zoom=0.0))  # the zoomed outputs are resampled copies (tests/test_zoom.py)
    out = model(torch.rand(2, 3, 64, 64) * 255, boxes=torch.tensor([[5.0, 5, 30, 30], [10.0, 10, 40, 40]]))
    out["all_masks"].retain_grad()
    out["masks"].sum().backward()
    grad = out["all_masks"].grad
    best = out["all_iou"].argmax(dim=1)
    for i in range(2):
        for k in range(3):
            assert bool((grad[i, k] != 0).any()) == (k == int(best[i]))
    assert all(p.grad is None for n, p in model.image_encoder.named_parameters() if ".Adapter." not in n)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    source, target = build_model("sam_med2d_tiny"), build_model("sam_med2d_tiny")
    torch.save({"model": source.state_dict(), "epoch": 3}, tmp_path / "ours.pth")
    report = load_checkpoint(target, tmp_path / "ours.pth", strict=True)
    assert report.missing == [] and report.unexpected == [] and report.resized == []
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key]), key


def test_unsafe_pickle_needs_an_opt_in(tmp_path):
    model = build_model("sam_med2d_tiny")
    optimizer = torch.optim.Adam(model.parameters())
    torch.save({"model": model.state_dict(), "optimizer": optimizer}, tmp_path / "sam-med2d_b.pth")  # pickles an object
    with pytest.raises(GtvError, match="allow_unsafe_pickle=True"):
        load_checkpoint(build_model("sam_med2d_tiny"), tmp_path / "sam-med2d_b.pth")
    report = load_checkpoint(build_model("sam_med2d_tiny"), tmp_path / "sam-med2d_b.pth", allow_unsafe_pickle=True)
    assert report.missing == [] and report.unexpected == []


def test_checkpoint_errors(tmp_path):
    model = build_model("sam_med2d_tiny")
    with pytest.raises(GtvError, match="checkpoint not found"):
        load_checkpoint(model, tmp_path / "none.pth")
    torch.save({"model": {"mask_decoder.iou_token.weight": torch.zeros(5, 5)}}, tmp_path / "bad.pth")
    with pytest.raises(GtvError, match="cannot be resized: \\['mask_decoder.iou_token.weight: file \\(5, 5\\)"):
        load_checkpoint(model, tmp_path / "bad.pth")
    torch.save({"model": {"extra.weight": torch.zeros(1)}}, tmp_path / "foreign.pth")
    with pytest.raises(GtvError, match=r"foreign\.pth: none of its 1 tensors fits this model .*expected weights of this architecture"):
        load_checkpoint(model, tmp_path / "foreign.pth")  # "loaded 0 tensors" would train from random weights
    torch.save({"model": {**model.state_dict(), "extra.weight": torch.zeros(1)}}, tmp_path / "extra.pth")
    with pytest.raises(GtvError, match="in the file but not in the model"):
        load_checkpoint(model, tmp_path / "extra.pth", strict=True)
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(GtvError, match="not a readable torch checkpoint"):
        load_checkpoint(model, tmp_path / "text.pth")
    with pytest.raises(GtvError, match="not registered"):
        build_model("sam_vit_h")


def test_discriminator_shapes():
    discriminator = Discriminator(image_size=64)
    out = discriminator(torch.rand(4, 1, 64, 64))
    assert out.shape == (4, 9) and bool(((out > 0) & (out < 1)).all())
    linear = [m for m in discriminator.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(4096, 512), (512, 256), (256, 9)]
    assert [m.negative_slope for m in discriminator.net if isinstance(m, torch.nn.LeakyReLU)] == [0.2, 0.2]


@pytest.mark.parametrize("prefix", ["module.", "model."])
def test_a_wrapper_prefix_is_removed(tmp_path, prefix):
    """A DistributedDataParallel state dict (keys under module.) loads into the plain model."""
    torch.manual_seed(3)
    source, target = build_model("sam_med2d_tiny"), build_model("sam_med2d_tiny")
    torch.save({f"{prefix}{k}": v for k, v in source.state_dict().items()}, tmp_path / "wrapped.pth")
    report = load_checkpoint(target, tmp_path / "wrapped.pth", strict=True)
    assert report.loaded == len(source.state_dict())
    assert f"keys under {prefix!r}, prefix removed" in str(report)
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in source.state_dict().items())


def test_only_global_attention_tables_are_resized(tmp_path):
    """A windowed block's relative-position table has the window's size whatever the input: a mismatch there
    means another architecture, not another input size."""
    model = build_model("sam_med2d_tiny")
    state = model.state_dict()
    windowed = "image_encoder.blocks.0.attn.rel_pos_h"  # the tiny model's global blocks are 1 and 3
    glob = "image_encoder.blocks.1.attn.rel_pos_h"
    torch.save({**state, glob: torch.randn(63, state[glob].shape[1])}, tmp_path / "global.pth")
    assert load_checkpoint(model, tmp_path / "global.pth").resized == [glob]
    torch.save({**state, windowed: torch.randn(63, state[windowed].shape[1])}, tmp_path / "windowed.pth")
    with pytest.raises(GtvError, match=r"cannot be resized: \['image_encoder\.blocks\.0\.attn\.rel_pos_h: file \(63, "):
        load_checkpoint(model, tmp_path / "windowed.pth")
