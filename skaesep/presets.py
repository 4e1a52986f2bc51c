"""Named model configurations for the command line and the benchmarks."""

from .resynthesis import MaskResynthesizer, make_separation_pipeline

#: Parameters of :func:`make_separation_pipeline` (``pipeline``) and of
#: :class:`MaskResynthesizer` (``separator``) for each preset.
PRESETS = {
    # The report's configuration (section IV-B): b = 75 Hz (533 bins),
    # 15-frame chunks, four layers of 500 sigmoid units, cross-entropy.
    "report": {
        "pipeline": dict(bandwidth=75.0, n_frames=15, layer_sizes=(500, 500, 500, 500),
                         pretrain_epochs=5, max_iter=20),
        "separator": dict(),
    },
    # Frame-level input (report V-A), a small code layer: trains in seconds.
    "demo": {
        "pipeline": dict(bandwidth=75.0, n_frames=1, layer_sizes=(256, 128),
                         pretrain_epochs=3, max_iter=15),
        "separator": dict(chunk_hop=1),
    },
}


def make_preset(name, *, sr=44100, random_state=None, **autoencoder_params):
    """An unfitted :class:`MaskResynthesizer` configured by a named preset.

    Parameters
    ----------
    name : {"report", "demo"}
        Preset name; see ``PRESETS``.
    sr : int, default=44100
        Sample rate of the audio.
    random_state : int, RandomState instance or None, default=None
        Seeds the model.
    **autoencoder_params
        Overrides of the preset's autoencoder parameters (e.g. ``verbose``).

    Returns
    -------
    model : MaskResynthesizer

    Examples
    --------
    >>> from skaesep.presets import make_preset
    >>> model = make_preset("report")
    >>> model.pipeline.get_params()["autoencoder__layer_sizes"]
    (500, 500, 500, 500)
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}.")
    preset = PRESETS[name]
    pipeline = make_separation_pipeline(sr=sr, **{**preset["pipeline"], **autoencoder_params})
    return MaskResynthesizer(pipeline, random_state=random_state, **preset["separator"])
