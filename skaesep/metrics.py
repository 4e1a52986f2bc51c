"""Evaluation of source separation: BSS Eval v3 metrics and the oracle ratio mask.

The metrics are the classical ``bss_eval_sources`` criteria of Vincent,
Gribonval and Fevotte (2006): each estimate is decomposed, by least-squares
projection onto the delayed copies (a time-invariant 512-tap distortion
filter) of the reference sources, into a target part, interference and
artifacts; SDR, SIR and SAR are the corresponding energy ratios in dB.

The projections are computed by :mod:`fast_bss_eval` (numpy backend, direct
solver). It agrees with ``mir_eval.separation.bss_eval_sources`` (deprecated
since mir_eval 0.8) to about 1e-11 dB on realistic signals (1e-6 dB when the
references are badly conditioned); ``docs/metrics.rst`` records the comparison,
the options used and why. This module only adds input validation, the
choice of the source permutation and the conversion of the library's squared
cosines to decibels.

Also here: :func:`ideal_ratio_mask`, the oracle (ceiling) estimates of any
method that masks the mixture STFT, :func:`reconstruction_error`, the
autoencoder's error on a spectrogram (report Fig. 5), and :func:`format_table`
for the CLI.

Conventions
-----------
* Signals have shape ``(n_sources, n_samples)``: time is the last axis, as in
  librosa and mir_eval. A 1-D array is one source.
* Metrics are clipped to ``[-MAX_DB, MAX_DB]`` (150 dB). Beyond that float64
  cannot resolve the ratio: a perfect estimate, or the SAR of an estimate
  without artifacts, would otherwise be ``+inf`` (mir_eval returns rounding
  noise of 200-300 dB there instead).
* BSS Eval is undefined for silent (all-zero) references or estimates; both
  raise :class:`ValueError`.
"""

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils import Bunch
from threadpoolctl import threadpool_limits

from ._base import binary_cross_entropy
from ._masking import ratio_masks
from ._sklearn_compat import Interval, validate_params

__all__ = [
    "FILTER_LENGTH",
    "MAX_DB",
    "bss_eval",
    "evaluate_separation",
    "format_table",
    "ideal_ratio_mask",
    "reconstruction_error",
    "sdr_improvement",
]

#: Length (taps) of the time-invariant distortion filter of BSS Eval v3.
FILTER_LENGTH = 512

#: Metrics are clipped to ``[-MAX_DB, MAX_DB]`` dB.
MAX_DB = 150.0

# Diagonal loading used only when the exact system is singular.
_FALLBACK_LOAD = 1e-10


# ---------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------


def _check_sources(x, name, *, keep_float32=False):
    """Return ``x`` as a finite float array of shape (n_sources, n_samples).

    float64 unless ``keep_float32`` and ``x`` is float32.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be an array of real numbers, got dtype {x.dtype}.")
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_sources, n_samples) (or (n_samples,) for "
            f"one source), got an array of shape {x.shape}."
        )
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}): nothing to evaluate.")
    dtype = np.float32 if keep_float32 and x.dtype == np.float32 else np.float64
    x = x.astype(dtype, copy=False)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{name} contains NaN or infinity (source index {', '.join(map(str, bad))})."
        )
    return x


def _check_not_silent(x, name):
    silent = np.flatnonzero(~np.any(x != 0, axis=1))
    if silent.size:
        kind = "reference" if name == "reference_sources" else "estimated"
        raise ValueError(
            f"{name}: {kind} source index {', '.join(map(str, silent))} is silent "
            f"(all zeros); BSS Eval is undefined for a silent {kind} source "
            "(its projection has zero energy), so it cannot be scored."
        )


def _check_pair(reference_sources, estimated_sources, filter_length=FILTER_LENGTH):
    ref = _check_sources(reference_sources, "reference_sources")
    est = _check_sources(estimated_sources, "estimated_sources")
    if ref.shape != est.shape:
        raise ValueError(
            "reference_sources and estimated_sources must have the same shape "
            f"(n_sources, n_samples), got {ref.shape} and {est.shape}."
        )
    n_sources, n_samples = ref.shape
    if not isinstance(filter_length, Integral) or filter_length < 1:
        raise ValueError(f"filter_length must be a positive int, got {filter_length!r}.")
    min_samples = max(2, n_sources) * filter_length
    if n_samples < min_samples:
        raise ValueError(
            f"BSS Eval with a {filter_length}-tap distortion filter needs at least "
            f"{min_samples} samples for {n_sources} source(s), got {n_samples}: with "
            "fewer, the delayed references span (nearly) every signal and the "
            "artifact term is meaningless."
        )
    _check_not_silent(ref, "reference_sources")
    _check_not_silent(est, "estimated_sources")
    return ref, est


def _check_mixture(mixture, n_samples):
    mix = _check_sources(mixture, "mixture")
    if mix.shape != (1, n_samples):
        raise ValueError(
            f"mixture must have shape (n_samples,) = ({n_samples},), got {np.shape(mixture)}."
        )
    if not np.any(mix != 0):
        raise ValueError("mixture is silent (all zeros); its SDR is undefined.")
    return mix[0]


# ---------------------------------------------------------------------------
# BSS Eval
# ---------------------------------------------------------------------------


def _coherence_to_db(coh):
    """Squared cosine ``c`` -> ``10 log10(c / (1 - c))`` clipped to +-MAX_DB."""
    coh = np.clip(coh, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * (np.log10(coh) - np.log10(1.0 - coh))
    return np.clip(db, -MAX_DB, MAX_DB)


def _unit_norm(x):
    """Scale each row to unit L2 norm (via the peak first: no overflow)."""
    x = x / np.max(np.abs(x), axis=-1, keepdims=True)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _pairwise_bss_eval(ref, est, filter_length=FILTER_LENGTH):
    """SDR, SIR, SAR matrices of shape (n_ref, n_est): entry [k, m] scores
    estimate m against reference k."""
    # Imported lazily: importing fast_bss_eval also imports torch when it is
    # installed, which would slow down ``import skaesep`` for no reason.
    from fast_bss_eval.numpy.metrics import square_cosine_metrics

    # The metrics are invariant to the scale of each signal. fast_bss_eval
    # normalises with the norm floored at 1e-6, so an estimate with a smaller
    # L2 norm would be mis-scored: normalise here first (references too, which
    # only helps the conditioning of the Toeplitz systems).
    ref, est = (_unit_norm(x) for x in (ref, est))
    # pairwise=True: the non-pairwise path of fast_bss_eval 0.1.4 calls
    # np.linalg.solve with a stack of vectors, which numpy 2 rejects.
    options = {
        "filter_length": filter_length,
        "use_cg_iter": None,  # direct solver: matches mir_eval (CG does not)
        "zero_mean": False,
        "pairwise": True,
    }
    # One BLAS thread: the systems are small (n_sources * 512 unknowns) and the
    # time goes to FFTs; extra OpenBLAS threads only spin (measured: slower on
    # an idle 2-core machine, several times slower on a busy one).
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            # no diagonal loading: matches mir_eval
            coh_sdr, coh_sar = square_cosine_metrics(ref, est, load_diag=None, **options)
        except np.linalg.LinAlgError:
            # Exactly singular system: linearly dependent references (e.g. two
            # identical sources). The projections are still unique; a tiny
            # loading of the unit-norm autocorrelation gets them (8e-8 dB from
            # mir_eval, whose Gram matrix is not exactly singular after
            # rounding; see docs/metrics.rst).
            coh_sdr, coh_sar = square_cosine_metrics(ref, est, load_diag=_FALLBACK_LOAD, **options)
    with np.errstate(divide="ignore", invalid="ignore"):
        coh_sir = coh_sdr / coh_sar
    sdr, sir, sar = (_coherence_to_db(c) for c in (coh_sdr, coh_sir, coh_sar))
    if ref.shape[0] == 1:
        sir = np.full_like(sir, MAX_DB)  # no interfering source: SIR is unbounded
    return sdr, sir, sar


def bss_eval(
    reference_sources, estimated_sources, *, compute_permutation=False, filter_length=FILTER_LENGTH
):
    """BSS Eval v3 source metrics (SDR, SIR, SAR), as ``bss_eval_sources``.

    Each estimate is decomposed by least-squares projection onto the
    subspace spanned by 512 delays of the reference sources (Vincent et al.,
    2006): the part explained by its own reference is the target, the rest of
    the projection is interference and the residual is artifacts.

    Parameters
    ----------
    reference_sources : array-like of shape (n_sources, n_samples)
        True sources. A 1-D array is one source. None may be silent.
    estimated_sources : array-like of shape (n_sources, n_samples)
        Estimated sources, same shape. None may be silent.
    compute_permutation : bool, default=False
        If False, estimate ``j`` is scored against reference ``j``. If True,
        the estimates are matched to the references by the permutation that
        maximises the mean SIR (as ``mir_eval.separation.bss_eval_sources``
        does), the right choice for blind separation.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With ``sdr``, ``sir``, ``sar``: ndarray of shape (n_sources,), float64,
        in dB, clipped to ``[-MAX_DB, MAX_DB]``, entry ``j`` for reference
        ``j``; and ``perm``: ndarray of shape (n_sources,), int, where
        ``perm[j]`` is the index of the estimate matched to reference ``j``
        (``arange(n_sources)`` when ``compute_permutation=False``).

    Raises
    ------
    ValueError
        If the shapes differ or are not 1-D/2-D, an input is empty, complex,
        contains NaN or infinity, a source is silent (all zeros), there are
        fewer than ``max(2, n_sources) * filter_length`` samples, or
        ``filter_length`` is not a positive int.

    See Also
    --------
    evaluate_separation : Metrics, means and SDR improvement in one call.

    Notes
    -----
    Computed with ``fast_bss_eval`` (numpy backend, direct solver); equal to
    ``mir_eval.separation.bss_eval_sources`` to ~1e-11 dB (up to 1e-6 dB for
    badly conditioned references) wherever mir_eval's values are below
    ``MAX_DB``. Linearly dependent references (e.g. two identical sources)
    make the exact system singular; the (still unique) projections are then
    computed with a 1e-10 diagonal loading. Ties between permutations
    (identical estimates or references) may be broken differently from
    mir_eval. See ``docs/metrics.rst``.

    References
    ----------
    E. Vincent, R. Gribonval and C. Fevotte, "Performance measurement in blind
    audio source separation", IEEE Trans. ASLP 14(4), 1462-1469, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.metrics import bss_eval
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(8000) / 8000.0
    >>> refs = np.stack([np.sin(2 * np.pi * 220 * t) * (1 + t),
    ...                  rng.standard_normal(t.size)])
    >>> ests = refs + 0.1 * refs[::-1] + 0.05 * rng.standard_normal(refs.shape)
    >>> res = bss_eval(refs, ests)
    >>> print(np.round(res.sdr, 1), res.perm)
    [19.8 18.7] [0 1]

    Blind results: the estimates come back in another order.

    >>> res = bss_eval(refs, ests[::-1], compute_permutation=True)
    >>> print(np.round(res.sdr, 1), res.perm)
    [19.8 18.7] [1 0]
    """
    ref, est = _check_pair(reference_sources, estimated_sources, filter_length)
    sdr, sir, sar = _pairwise_bss_eval(ref, est, filter_length)
    n_sources = ref.shape[0]
    if compute_permutation:
        rows, perm = linear_sum_assignment(sir, maximize=True)
        perm = perm[np.argsort(rows)]
    else:
        perm = np.arange(n_sources)
    perm = perm.astype(np.intp)
    idx = (np.arange(n_sources), perm)
    return Bunch(sdr=sdr[idx], sir=sir[idx], sar=sar[idx], perm=perm)


def sdr_improvement(reference_sources, estimated_sources, mixture, **kwargs):
    """SDR improvement (SDRi) over the unprocessed mixture, per source.

    ``SDR(estimate_j) - SDR(mixture as the estimate of source j)``: 0 dB for a
    method that returns the mixture, positive when it separates.

    Parameters
    ----------
    reference_sources : array-like of shape (n_sources, n_samples)
        True sources.
    estimated_sources : array-like of shape (n_sources, n_samples)
        Estimated sources.
    mixture : array-like of shape (n_samples,)
        The mixture the estimates were separated from.
    **kwargs
        Passed to :func:`bss_eval` for the estimates (``compute_permutation``,
        ``filter_length``); ``filter_length`` is used for the mixture too.

    Returns
    -------
    sdri : ndarray of shape (n_sources,)
        Improvement in dB, entry ``j`` for reference ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.metrics import sdr_improvement
    >>> rng = np.random.default_rng(0)
    >>> refs = rng.standard_normal((2, 8000))
    >>> mix = refs.sum(axis=0)
    >>> print(np.round(sdr_improvement(refs, [mix, mix], mix), 6) + 0.0)
    [0. 0.]
    >>> ests = refs + 0.1 * rng.standard_normal(refs.shape)
    >>> bool(np.all(sdr_improvement(refs, ests, mix) > 15))
    True
    """
    filter_length = kwargs.get("filter_length", FILTER_LENGTH)
    ref, est = _check_pair(reference_sources, estimated_sources, filter_length)
    mix = _check_mixture(mixture, ref.shape[1])
    sdr_est = bss_eval(ref, est, **kwargs).sdr
    sdr_mix = bss_eval(ref, np.broadcast_to(mix, ref.shape), filter_length=filter_length).sdr
    return sdr_est - sdr_mix


def evaluate_separation(
    reference_sources, estimated_sources, mixture=None, *, compute_permutation=False
):
    """Per-source BSS Eval metrics, their means and (optionally) SDRi.

    Parameters
    ----------
    reference_sources : array-like of shape (n_sources, n_samples)
        True sources.
    estimated_sources : array-like of shape (n_sources, n_samples)
        Estimated sources.
    mixture : array-like of shape (n_samples,), default=None
        The mixture; if given, the SDR of the mixture as every source's
        estimate (``sdr_mixture``) and the improvement ``sdri`` are added.
    compute_permutation : bool, default=False
        Match estimates to references by the best permutation (blind
        separation); see :func:`bss_eval`.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``sdr``, ``sir``, ``sar``, ``perm`` as in :func:`bss_eval`;
        ``mean_sdr``, ``mean_sir``, ``mean_sar`` (float); with a mixture also
        ``sdr_mixture``, ``sdri`` (ndarray of shape (n_sources,)) and
        ``mean_sdri``. The result can be passed to :func:`format_table`.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.metrics import evaluate_separation, ideal_ratio_mask
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(2 * 8000) / 8000.0
    >>> refs = np.stack([np.sign(np.sin(2 * np.pi * 3 * t)) * rng.standard_normal(t.size),
    ...                  np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 880 * t)])
    >>> mix = refs.sum(axis=0)
    >>> res = evaluate_separation(refs, ideal_ratio_mask(refs), mix)
    >>> sorted(res)  # doctest: +NORMALIZE_WHITESPACE
    ['mean_sar', 'mean_sdr', 'mean_sdri', 'mean_sir', 'perm', 'sar', 'sdr',
     'sdr_mixture', 'sdri', 'sir']
    >>> bool(res.mean_sdri > 10)
    True
    """
    ref, est = _check_pair(reference_sources, estimated_sources)
    result = bss_eval(ref, est, compute_permutation=compute_permutation)
    result.mean_sdr = float(np.mean(result.sdr))
    result.mean_sir = float(np.mean(result.sir))
    result.mean_sar = float(np.mean(result.sar))
    if mixture is not None:
        mix = _check_mixture(mixture, ref.shape[1])
        result.sdr_mixture = bss_eval(ref, np.broadcast_to(mix, ref.shape)).sdr
        result.sdri = result.sdr - result.sdr_mixture
        result.mean_sdri = float(np.mean(result.sdri))
    return result


# ---------------------------------------------------------------------------
# oracle baseline
# ---------------------------------------------------------------------------


@validate_params(
    {
        "sources": ["array-like"],
        "n_fft": [Interval(Integral, 1, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "window": [str, tuple, "array-like"],
        "power": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def ideal_ratio_mask(sources, *, n_fft=1064, hop_length=266, window="hamming", power=1.0):
    """Oracle source estimates from ideal ratio masks on the mixture STFT.

    The mixture is ``sum(sources)``. Source ``k`` is estimated as the inverse
    STFT of ``M_k * STFT(mixture)`` with ``M_k = |S_k|^p / sum_j |S_j|^p``
    (``S_k`` the STFT of source ``k``). The masks sum to one in every bin
    (``1 / n_sources`` where all sources are silent), so the estimates sum
    back to the mixture. This is the ceiling for any method that masks the
    mixture spectrogram.

    Parameters
    ----------
    sources : array-like of shape (n_sources, n_samples)
        The true sources.
    n_fft : int, default=1064
        FFT/window length; the default is the report's ``1.81 * 44100 / 75``.
    hop_length : int, default=266
        Hop between frames, ``1 <= hop_length <= n_fft``.
    window : str, tuple or array-like, default="hamming"
        Window, as accepted by :func:`librosa.stft`.
    power : float, default=1.0
        Exponent ``p``: 1 gives magnitude ratio masks, 2 Wiener-like masks.

    Returns
    -------
    estimates : ndarray of shape (n_sources, n_samples)
        Oracle estimates; float32 for float32 input, float64 otherwise.

    See Also
    --------
    evaluate_separation : Score the estimates.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.metrics import ideal_ratio_mask
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(8000) / 8000.0
    >>> sources = np.stack([np.sin(2 * np.pi * 440 * t), 0.3 * rng.standard_normal(t.size)])
    >>> estimates = ideal_ratio_mask(sources)
    >>> estimates.shape
    (2, 8000)
    >>> bool(np.allclose(estimates.sum(axis=0), sources.sum(axis=0)))
    True
    """
    import librosa

    sources = _check_sources(sources, "sources", keep_float32=True)
    if hop_length > n_fft:
        raise ValueError(
            f"hop_length ({hop_length}) must not exceed n_fft ({n_fft}): frames "
            "would leave gaps and the estimates would not sum to the mixture."
        )
    n_sources, n_samples = sources.shape
    stft = {"n_fft": int(n_fft), "hop_length": int(hop_length), "window": window}
    try:
        spec = librosa.stft(sources, **stft)  # (n_sources, n_freq, n_frames)
        mix_spec = librosa.stft(sources.sum(axis=0), **stft)
    except librosa.util.exceptions.ParameterError as exc:
        raise ValueError(str(exc)) from exc

    masks = ratio_masks(np.abs(spec), power)
    return librosa.istft(masks * mix_spec, length=n_samples, **stft)


# ---------------------------------------------------------------------------
# reconstruction
# ---------------------------------------------------------------------------


def reconstruction_error(inputs, reconstruction):
    """The autoencoder's error on a scaled spectrogram (report Fig. 5).

    Parameters
    ----------
    inputs : array-like
        The network's input ``V``, values in [0, 1] (e.g.
        ``SpectrogramTransformer.scale`` of a magnitude spectrogram).
    reconstruction : array-like of the same shape
        The network's output ``V_hat`` for it, values in [0, 1].

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``cross_entropy``: the report's loss, the mean binary cross-entropy
        per value; ``snr``: the spectral signal-to-noise ratio
        ``10 log10(sum V**2 / sum (V - V_hat)**2)`` in dB, clipped to
        ``[-MAX_DB, MAX_DB]`` (a perfect reconstruction gives ``MAX_DB``).

    Raises
    ------
    ValueError
        If the shapes differ, a value is outside [0, 1], or the inputs are all
        zero (the SNR of silence is undefined).

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.metrics import reconstruction_error
    >>> V = np.array([[1.0, 0.5], [0.5, 0.0]])
    >>> err = reconstruction_error(V, 0.9 * V)
    >>> round(err.snr, 1)
    20.0
    >>> round(err.cross_entropy, 3)
    0.375
    """
    V = np.asarray(inputs, dtype=np.float64)
    V_hat = np.asarray(reconstruction, dtype=np.float64)
    if V.shape != V_hat.shape or V.size == 0:
        raise ValueError(
            f"inputs and reconstruction must be non-empty arrays of one shape, got "
            f"{V.shape} and {V_hat.shape}."
        )
    for name, x in (("inputs", V), ("reconstruction", V_hat)):
        if not np.all((x >= 0) & (x <= 1)):
            raise ValueError(
                f"{name} must hold values in [0, 1] (the network's scaled spectrogram), "
                f"got values in [{np.nanmin(x):g}, {np.nanmax(x):g}]."
            )
    if not V.any():
        raise ValueError("inputs are all zero (silence): the spectral SNR is undefined.")
    with np.errstate(divide="ignore"):
        snr = 10 * np.log10(np.sum(V**2) / np.sum((V - V_hat) ** 2))
    return Bunch(
        cross_entropy=float(binary_cross_entropy(V, V_hat)),
        snr=float(np.clip(snr, -MAX_DB, MAX_DB)),
    )


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------

_COLUMNS = (("SDR", "sdr"), ("SIR", "sir"), ("SAR", "sar"), ("SDRi", "sdri"))


def _pooled_mean(results, key):
    values = [np.ravel(r[key]) for r in results if r.get(key) is not None]
    if not values:
        return None
    return float(np.mean(np.concatenate(values)))


def format_table(rows, *, precision=2):
    """Fixed-width table of method -> mean SDR, SIR, SAR and SDRi (dB).

    Parameters
    ----------
    rows : mapping or iterable of (name, result) pairs
        ``result`` is a mapping with ``"sdr"``, ``"sir"``, ``"sar"`` and
        optionally ``"sdri"`` (per-source arrays or scalars), e.g. the output
        of :func:`evaluate_separation`, or a list of such mappings (one per
        clip): their per-source values are pooled before averaging.
    precision : int, default=2
        Digits after the decimal point.

    Returns
    -------
    table : str
        One header line, a rule and one line per method; a missing value is
        shown as ``-``.

    Examples
    --------
    >>> from skaesep.metrics import format_table
    >>> print(format_table({
    ...     "oracle IRM": {"sdr": [15.0, 16.0], "sir": [20.0, 21.0],
    ...                    "sar": [17.0, 18.0], "sdri": [14.5, 16.5]},
    ...     "mixture": {"sdr": 0.5, "sir": 0.5, "sar": 150.0},
    ... }))
    method         SDR     SIR     SAR    SDRi
    ---------- ------- ------- ------- -------
    oracle IRM   15.50   20.50   17.50   15.50
    mixture       0.50    0.50  150.00       -
    """
    items = list(rows.items()) if isinstance(rows, Mapping) else list(rows)
    names = [str(name) for name, _ in items]
    width = max([len("method")] + [len(n) for n in names])
    num = max(7, precision + 5)
    lines = [
        "method".ljust(width) + "".join(f" {h:>{num}}" for h, _ in _COLUMNS),
        "-" * width + "".join(" " + "-" * num for _ in _COLUMNS),
    ]
    for name, result in items:
        results = [result] if isinstance(result, Mapping) else list(result)
        cells = []
        for _, key in _COLUMNS:
            value = _pooled_mean(results, key)
            cells.append("-" if value is None else f"{value:.{precision}f}")
        lines.append(str(name).ljust(width) + "".join(f" {c:>{num}}" for c in cells))
    return "\n".join(lines)
