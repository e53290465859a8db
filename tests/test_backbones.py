"""Every registered backbone gets the contract tests for free (timm's test_models idea)."""
import pytest
import torch

from videosce.models import backbone_info, create_backbone, list_backbones, load_backbone_weights

TINY = (2, 3, 4, 32, 32)


@pytest.mark.parametrize("name", list_backbones())
def test_forward_shape_backward_and_feature_map(name):
    torch.manual_seed(0)
    model = create_backbone(name)
    x = torch.randn(*TINY)
    feats = model(x)
    assert feats.shape == (TINY[0], model.num_features)
    fmap = model.forward_features(x)
    assert fmap.ndim == 5 and fmap.shape[:2] == (TINY[0], model.num_features)
    feats.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", list_backbones())
def test_eval_mode_is_deterministic_and_info_present(name):
    model = create_backbone(name).eval()
    x = torch.randn(*TINY)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    info = backbone_info(name)
    assert info["frames"] >= 1 and info["size"] >= 16


def test_torchvision_state_dict_interop():
    from torchvision.models.video import r3d_18

    ours, theirs = create_backbone("r3d_18").eval(), r3d_18(weights=None).eval()
    state = {k: v for k, v in theirs.state_dict().items() if not k.startswith("fc.")}
    load_backbone_weights(ours, state)
    theirs.fc = torch.nn.Identity()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_unknown_backbone_lists_choices():
    with pytest.raises(KeyError, match="r3d_18"):
        create_backbone("resnet9000")


def test_wrong_architecture_weights_fail_loudly():
    with pytest.raises(RuntimeError):
        load_backbone_weights(create_backbone("r3d_tiny"), create_backbone("r2plus1d_18").state_dict())
