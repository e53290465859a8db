from .finetune import finetune, topk_accuracy
from .retrieval import evaluate_retrieval, extract_features, recall_at_k

__all__ = ["evaluate_retrieval", "extract_features", "finetune", "recall_at_k", "topk_accuracy"]
