from .features import EvalContext, FeatureCache, VideoFeatures, extract_features
from .finetune import finetune
from .knn import knn_monitor, knn_scores
from .linear import linear_eval
from .metrics import classification_report, mean_std, topk_accuracy
from .ranking import recall_at_k, retrieval_hits
from .retrieval import evaluate_retrieval, retrieval_title

__all__ = [
    "EvalContext",
    "FeatureCache",
    "VideoFeatures",
    "classification_report",
    "evaluate_retrieval",
    "extract_features",
    "finetune",
    "knn_monitor",
    "knn_scores",
    "linear_eval",
    "mean_std",
    "recall_at_k",
    "retrieval_hits",
    "retrieval_title",
    "topk_accuracy",
]
