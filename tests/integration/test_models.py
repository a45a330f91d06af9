"""Integration tier of tests/unit/models/test_models.py: sAM-Med2D on segment-anything's classes: shapes, adapter keys, one-to-one decoding, checkpoints."""

import pytest
import torch

from gtvlib.models.checkpoints import load_checkpoint, resize_position_embedding, resize_relative_position
from gtvlib.models.sam_med2d import sam_modeling
from tests.unit.models import test_models as unit_tier  # the unit tier's fixtures and helpers, shared

vit_b = unit_tier.vit_b


@pytest.mark.slow
def test_official_sam_layout_at_1024_is_resized(tmp_path, vit_b):
    """A state dict in the official SAM ViT-B layout (1024 px, no adapters) loads at 256 px."""
    modeling = sam_modeling()
    from functools import partial

    encoder = modeling.ImageEncoderViT(depth=12, embed_dim=768, img_size=1024, mlp_ratio=4,
                                       norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=12, patch_size=16,
                                       qkv_bias=True, use_rel_pos=True, global_attn_indexes=(2, 5, 8, 11),
                                       window_size=14, out_chans=256)
    torch.manual_seed(2)
    for parameter in encoder.parameters():
        torch.nn.init.normal_(parameter, std=0.02)
    official = {f"image_encoder.{k}": v for k, v in encoder.state_dict().items()}
    official.update({k: v for k, v in vit_b.state_dict().items() if not k.startswith("image_encoder.")})
    official["image_encoder.pos_embed"] = torch.randn(1, 64, 64, 768)
    torch.save(official, tmp_path / "sam_vit_b.pth")
    report = load_checkpoint(vit_b, tmp_path / "sam_vit_b.pth")
    assert report.unexpected == []
    assert set(report.missing) == {k for k in vit_b.state_dict() if ".Adapter." in k}
    assert "image_encoder.pos_embed" in report.resized
    assert {k for k in report.resized if "rel_pos" in k} == {f"image_encoder.blocks.{b}.attn.rel_pos_{a}" for b in (2, 5, 8, 11) for a in "hw"}
    loaded = vit_b.state_dict()
    assert torch.allclose(loaded["image_encoder.pos_embed"], resize_position_embedding(official["image_encoder.pos_embed"], 16))
    table = official["image_encoder.blocks.2.attn.rel_pos_h"]
    assert table.shape == (127, 64)
    assert torch.allclose(loaded["image_encoder.blocks.2.attn.rel_pos_h"], resize_relative_position(table, 31))
    assert torch.equal(loaded["image_encoder.blocks.0.attn.rel_pos_h"], official["image_encoder.blocks.0.attn.rel_pos_h"])
    assert "missing from the file" in str(report) and "Adapter" in str(report)
    with torch.no_grad():
        assert vit_b(torch.rand(1, 3, 256, 256) * 255, boxes=torch.tensor([[40.0, 40, 120, 120]]))["masks"].shape == (1, 1, 256, 256)
