"""Named model configurations for the command line and the benchmarks.

``docs/quality.rst`` records how each configuration separates. Every value
can be overridden, and every parameter stays reachable by ``set_params`` and
:class:`~sklearn.model_selection.GridSearchCV` (``pipeline__autoencoder__...``,
``discriminative_epochs``, ...).
"""

from .resynthesis import MaskResynthesizer, make_separation_pipeline

#: Parameters of :func:`make_separation_pipeline` (``pipeline``) and of
#: :class:`MaskResynthesizer` (``separator``) for each preset.
PRESETS = {
    # The report's configuration (section IV-B): b = 75 Hz (533 bins),
    # 15-frame chunks, four layers of 500 sigmoid units, cross-entropy.
    "report": {
        "pipeline": dict(
            bandwidth=75.0,
            n_frames=15,
            layer_sizes=(500, 500, 500, 500),
            pretrain_epochs=5,
            max_iter=20,
        ),
        "separator": dict(),
    },
    # Frame-level input (report V-A), a small code layer: trains in seconds.
    "demo": {
        "pipeline": dict(
            bandwidth=75.0, n_frames=1, layer_sizes=(256, 128), pretrain_epochs=3, max_iter=15
        ),
        "separator": dict(chunk_hop=1),
    },
    # The best configuration of docs/quality.rst: frame-level input, a
    # 533-1024-512 network (the generalisation suite's "wide" lever) and
    # discriminative fine-tuning through the masks (mask loss) on random
    # mixtures of the labelled training stems (needs fit(stems, instruments)).
    "separation": {
        "pipeline": dict(
            bandwidth=75.0, n_frames=1, layer_sizes=(1024, 512), pretrain_epochs=5, max_iter=15
        ),
        "separator": dict(
            chunk_hop=1,
            discriminative_epochs=10,
            discriminative_mixtures=20000,
            max_mixed_sources=3,
            discriminative_loss="mask",
        ),
    },
}


def make_preset(name, *, sr=44100, random_state=None, **autoencoder_params):
    """An unfitted :class:`MaskResynthesizer` configured by a named preset.

    Parameters
    ----------
    name : {"report", "demo", "separation"}
        Preset name; see ``PRESETS``. ``"report"`` is the report's network,
        ``"separation"`` the best separator measured.
    sr : int, default=44100
        Sample rate of the audio.
    random_state : int, RandomState instance or None, default=None
        Seeds the model.
    **autoencoder_params
        Overrides of the preset's pipeline parameters (e.g. ``verbose``,
        ``n_frames``, ``layer_sizes``). Separator parameters are changed by
        ``set_params`` on the result.

    Returns
    -------
    model : MaskResynthesizer

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, section IV-B (the report's network).

    Examples
    --------
    >>> from skaesep.presets import make_preset
    >>> model = make_preset("report")
    >>> model.pipeline.get_params()["autoencoder__layer_sizes"]
    (500, 500, 500, 500)
    >>> model.pipeline.get_params()["autoencoder__input_size"]  # 15 frames of 533 bins
    7995
    >>> make_preset("separation").discriminative_loss
    'mask'
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}.")
    preset = PRESETS[name]
    pipeline = make_separation_pipeline(sr=sr, **{**preset["pipeline"], **autoencoder_params})
    return MaskResynthesizer(pipeline, random_state=random_state, **preset["separator"])
