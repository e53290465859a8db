"""SCE against an independent float64 numpy computation of the paper's formula."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videosce.losses import SCELoss, byol_loss, nt_xent_loss, sce_loss


def reference_sce(q, k, queue, temp, temp_m, coeff):
    """Loop-per-sample numpy transcription of the SCE paper's definition (docs/recipes.md)."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    q, k, queue = unit(q.astype(np.float64)), unit(k.astype(np.float64)), unit(queue.astype(np.float64))
    total = 0.0
    for i in range(q.shape[0]):
        rel = np.exp(k[i] @ queue.T / temp_m)
        s = rel / rel.sum()
        w = np.concatenate([[coeff], (1 - coeff) * s])
        online = np.concatenate([[q[i] @ k[i]], q[i] @ queue.T]) / temp
        log_p = online - np.log(np.exp(online).sum())
        total += -(w * log_p).sum()
    return total / q.shape[0]


@pytest.mark.parametrize("coeff", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("temp,temp_m", [(0.1, 0.05), (0.2, 0.07)])
def test_sce_matches_float64_reference(coeff, temp, temp_m):
    gen = torch.Generator().manual_seed(0)
    q, k, queue = torch.randn(6, 16, generator=gen), torch.randn(6, 16, generator=gen), torch.randn(32, 16, generator=gen)
    got = sce_loss(q, k, queue, temp=temp, temp_m=temp_m, coeff=coeff).item()
    want = reference_sce(q.numpy(), k.numpy(), queue.numpy(), temp, temp_m, coeff)
    assert got == pytest.approx(want, rel=1e-5)


def test_coeff_one_is_infonce_with_the_same_negatives():
    gen = torch.Generator().manual_seed(1)
    q, k, queue = torch.randn(8, 32, generator=gen), torch.randn(8, 32, generator=gen), torch.randn(64, 32, generator=gen)
    logits = torch.cat([(F.normalize(q) * F.normalize(k)).sum(1, keepdim=True), F.normalize(q) @ F.normalize(queue).t()], 1) / 0.1
    ce = F.cross_entropy(logits, torch.zeros(8, dtype=torch.long))
    assert sce_loss(q, k, queue, temp=0.1, coeff=1.0).item() == pytest.approx(ce.item(), rel=1e-6)
    assert sce_loss(q, k, queue, temp=0.1, temp_m=0.5, coeff=1.0).item() == pytest.approx(ce.item(), rel=1e-6)  # tau_m plays no part


def test_hand_computed_two_by_two():
    """q = k = e1, queue = {e1, e2}: every term by hand."""
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    q, k, queue = e1, e1, torch.cat([e1, e2])
    temp, temp_m, coeff = 0.5, 0.25, 0.5
    s = torch.softmax(torch.tensor([1 / temp_m, 0.0]), 0)
    w = torch.tensor([coeff, (1 - coeff) * s[0], (1 - coeff) * s[1]])
    log_p = torch.log_softmax(torch.tensor([1 / temp, 1 / temp, 0.0]), 0)
    assert sce_loss(q, k, queue, temp, temp_m, coeff).item() == pytest.approx(-(w * log_p).sum().item(), rel=1e-6)


def test_inputs_are_normalised_and_gradients_finite():
    gen = torch.Generator().manual_seed(2)
    q = torch.randn(4, 8, generator=gen, requires_grad=True)
    k, queue = torch.randn(4, 8, generator=gen), torch.randn(16, 8, generator=gen)
    loss = sce_loss(q, k, queue)
    loss.backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
    assert sce_loss(q * 7.0, k * 0.1, queue * 3.0).item() == pytest.approx(loss.item(), rel=1e-6)


def test_module_wraps_function_with_coeff_and_temp_m_per_call():
    gen = torch.Generator().manual_seed(3)
    q, k, queue = torch.randn(4, 8, generator=gen), torch.randn(4, 8, generator=gen), torch.randn(16, 8, generator=gen)
    loss = SCELoss(0.2)
    assert loss(q, k, queue, coeff=0.3, temp_m=0.07).item() == pytest.approx(sce_loss(q, k, queue, 0.2, 0.07, 0.3).item())
    assert loss(q, k, queue, coeff=0.6, temp_m=0.05).item() == pytest.approx(reference_sce(q.numpy(), k.numpy(), queue.numpy(), 0.2, 0.05, 0.6), rel=1e-5)


def test_byol_loss_is_two_minus_two_cosine():
    p, z = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, -1.0]])
    # cosines: 1/sqrt(2) and -1
    want = ((2 - 2 / np.sqrt(2)) + (2 + 2)) / 2
    assert byol_loss(p, z).item() == pytest.approx(want, rel=1e-6)


def reference_nt_xent(a, b, temp):
    """SimCLR's NT-Xent over 2N anchors, numpy float64, loops."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    z = unit(np.concatenate([a, b]).astype(np.float64))
    n = a.shape[0]
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        logits = np.array([z[i] @ z[j] / temp for j in range(2 * n) if j != i])
        others = [j for j in range(2 * n) if j != i]
        total += -(logits[others.index(positive)] - np.log(np.exp(logits).sum()))
    return total / (2 * n)


def test_nt_xent_matches_float64_reference():
    gen = torch.Generator().manual_seed(4)
    a, b = torch.randn(5, 8, generator=gen), torch.randn(5, 8, generator=gen)
    assert nt_xent_loss(a, b, temp=0.2).item() == pytest.approx(reference_nt_xent(a.numpy(), b.numpy(), 0.2), rel=1e-5)
