"""videosce: video self-supervised pretraining with Similarity Contrastive Estimation."""
import warnings

# pytorchvideo and fvcore call torch.jit.script at import time; torch 2.14 warns on every import.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*is deprecated", category=FutureWarning)
