"""The IGTV network (gtvlib.models.igtv): the slice interaction module's shapes, its identity path when its gate is
closed and its plain slice mixture when its attention is neutral, the 2.5-D network with and without it, and
transfer of a GTV model's weights into the IGTV model."""

import pytest
import torch

from gtvlib.models.checkpoints import load_checkpoint
from gtvlib.models.igtv import IGTVNet, SliceInteraction
from gtvlib.util.errors import GtvError


def test_the_slice_interaction_module_is_the_identity_with_its_gate_closed():
    torch.manual_seed(0)
    module = SliceInteraction(channels=8, slices=3)
    features = torch.randn(2, 3, 8, 16, 16)
    a_c, a_s, context = module.attention(features)
    assert a_c.shape == (2, 8, 1, 1) and a_s.shape == context.shape == (2, 8, 16, 16)
    assert torch.equal(module(features), features[:, 1])  # γ starts at 0: the middle slice passes unchanged
    with torch.no_grad():
        module.gate.fill_(0.5)
        for branch in (module.channel_attention, module.spatial_attention):  # σ(large bias) = 1: neutral attention
            branch.weight.zero_()
            branch.bias.fill_(30.0)
    expected = features[:, 1] + 0.5 * module.context(features.transpose(1, 2).reshape(2, 24, 16, 16))
    assert torch.allclose(module(features), expected, atol=1e-6)
    with pytest.raises(GtvError, match=r"expected \(B, 3, 8, H, W\)"):
        module(torch.randn(2, 5, 8, 16, 16))
    with pytest.raises(GtvError, match="slices=4; expected an odd number"):
        SliceInteraction(8, 4)


@pytest.mark.parametrize("modalities, interaction", [(2, True), (2, False), (1, True)])
def test_the_network_maps_slices_to_the_middle_slice_logits(modalities, interaction):
    torch.manual_seed(0)
    network = IGTVNet(modalities=modalities, slices=3, widths=(8, 16, 32), slice_interaction=interaction).eval()
    logits = network(torch.rand(2, modalities, 3, 32, 32))
    assert logits.shape == (2, 1, 32, 32)
    with pytest.raises(GtvError, match="expected sides that are multiples of 4"):
        network(torch.rand(1, modalities, 3, 30, 32))
    with pytest.raises(GtvError, match=f"expected \\(B, {modalities} modalities, 3 slices"):
        network(torch.rand(1, modalities, 5, 32, 32))


def test_with_closed_gates_the_network_sees_only_the_middle_slice():
    torch.manual_seed(0)
    network = IGTVNet(modalities=2, slices=3, widths=(8, 16, 32)).eval()
    x = torch.rand(1, 2, 3, 32, 32)
    changed = x.clone()
    changed[:, :, 0] = torch.rand(1, 2, 32, 32)  # another neighbour slice
    assert torch.allclose(network(x), network(changed))  # γ = 0 everywhere: neighbours have no say yet
    with torch.no_grad():
        for module in network.interaction:
            module.gate.fill_(1.0)
    assert not torch.allclose(network(x), network(changed))


def test_a_gtv_model_transfers_into_the_igtv_model(tmp_path):
    torch.manual_seed(0)
    gtv_model = IGTVNet(modalities=2, slices=3, widths=(8, 16, 32))
    with torch.no_grad():
        for parameter in gtv_model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))  # "trained"
    torch.save({"model": gtv_model.state_dict()}, tmp_path / "gtv.pt")
    igtv_model = IGTVNet(modalities=2, slices=3, widths=(8, 16, 32))
    report = load_checkpoint(igtv_model, tmp_path / "gtv.pt")
    assert report.loaded == len(gtv_model.state_dict()) and not report.missing
    x = torch.rand(1, 2, 3, 32, 32)
    assert torch.allclose(igtv_model.eval()(x), gtv_model.eval()(x))
    ct_only = IGTVNet(modalities=1, slices=3, widths=(8, 16, 32))
    with pytest.raises(GtvError, match=r"encoder.0.0.weight: file \(8, 2, 3, 3\), model \(8, 1, 3, 3\)"):
        load_checkpoint(ct_only, tmp_path / "gtv.pt")


def test_the_mamba_variant_reads_the_slices_as_a_sequence_and_learns():
    torch.manual_seed(0)
    module = SliceInteraction(channels=8, slices=5, mixer="mamba")
    features = torch.randn(2, 5, 8, 16, 16)
    assert torch.equal(module(features), features[:, 2])  # the same closed gate
    a_c, _, _ = module.attention(features)
    assert a_c.shape == (2, 8, 1, 1) and ((a_c > 0) & (a_c < 1)).all()
    network = IGTVNet(modalities=2, slices=3, widths=(8, 16), mixer="mamba")
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    x, target = torch.rand(2, 2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    for _ in range(2):  # the first step opens the gates, the second reaches the Mamba block through them
        loss = torch.nn.functional.binary_cross_entropy_with_logits(network(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    mamba_grads = [p.grad for n, p in network.named_parameters() if "channel_attention" in n]
    assert mamba_grads and any(g is not None and g.abs().sum() > 0 for g in mamba_grads)
    with pytest.raises(GtvError, match="mixer='lstm'; expected one of"):
        SliceInteraction(8, 3, mixer="lstm")
