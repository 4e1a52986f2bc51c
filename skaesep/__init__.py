"""skaesep: music source separation with a stacked-RBM deep autoencoder.

The four estimators follow the report's pipeline (``paper.md`` section III):
:class:`SpectrogramTransformer` (STFT magnitude chunks scaled into [0, 1]),
:class:`StackedRBMAutoencoder` (greedy RBM pretraining, unrolled, fine-tuned),
:class:`CodeLayerClusterer` (GMM soft clustering of code-layer units into
sources) and :class:`MaskResynthesizer` (per-source decodes turned into masks
on the mixture STFT).
"""

__version__ = "0.1.0"

from .autoencoder import StackedRBMAutoencoder
from .clustering import CodeLayerClusterer
from .persistence import list_models, load_model, model_info, save_model
from .resynthesis import MaskResynthesizer, make_separation_pipeline
from .separation import separate, separate_blocks
from .spectrogram import SpectrogramTransformer

__all__ = [
    "CodeLayerClusterer",
    "MaskResynthesizer",
    "SpectrogramTransformer",
    "StackedRBMAutoencoder",
    "list_models",
    "load_model",
    "make_separation_pipeline",
    "model_info",
    "save_model",
    "separate",
    "separate_blocks",
]
