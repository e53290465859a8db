import pytest
import torch

from videosce.eval import recall_at_k, topk_accuracy


def test_recall_hand_computed():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]])
    gallery_labels = torch.tensor([0, 1, 2, 1])
    queries = torch.tensor([[1.0, 0.1], [0.1, 1.0], [-1.0, -0.2]])
    query_labels = torch.tensor([1, 1, 0])
    # query 0 ranks: g0 (0), g3 (1), ... -> hit at 2; query 1: g1 (1) hit at 1; query 2: g2, then ... g0 last
    recalls = recall_at_k(queries, query_labels, gallery, gallery_labels, ks=(1, 2, 3, 4))
    assert recalls[1] == pytest.approx(100 / 3)
    assert recalls[2] == pytest.approx(200 / 3)
    assert recalls[3] == pytest.approx(200 / 3)
    assert recalls[4] == pytest.approx(100.0)


def test_recall_uses_cosine_not_dot_product():
    gallery = torch.tensor([[10.0, 0.0], [0.0, 0.1]])
    recalls = recall_at_k(torch.tensor([[0.1, 1.0]]), torch.tensor([1]), gallery, torch.tensor([0, 1]), ks=(1,))
    assert recalls[1] == 100.0


def test_k_larger_than_gallery():
    recalls = recall_at_k(torch.eye(2), torch.tensor([0, 1]), torch.eye(2), torch.tensor([1, 1]), ks=(1, 50))
    assert recalls == {1: 50.0, 50: 50.0}


def test_topk_accuracy():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])
    acc = topk_accuracy(scores, torch.tensor([2, 0]), ks=(1, 2))
    assert acc == {1: 50.0, 2: 100.0}
