"""Tests for skaesep.plotting: axes, colour bars, printed numbers and bad input.

conftest.py selects matplotlib's off-screen Agg backend.
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skaesep import SpectrogramTransformer
from skaesep.metrics import reconstruction_error
from skaesep.plotting import (
    plot_code_activations,
    plot_reconstruction,
    plot_separation,
    plot_spectrogram,
)

SR, HOP = 8000, 64


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _panels(fig):
    """The figure's axes other than colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _colorbar_labels(fig):
    """The label of each colour bar of the figure."""
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]


@pytest.fixture
def magnitudes():
    return np.random.default_rng(0).random((3, 129, 50)) * 10


def test_spectrogram_has_log_frequency_seconds_and_db(magnitudes, tmp_path):
    fig = plot_spectrogram(magnitudes[0], sr=SR, hop_length=HOP, title="mix")
    ax = fig.axes[0]
    assert ax.get_yscale() in ("log", "symlog")
    assert (ax.get_ylabel(), ax.get_xlabel(), ax.get_title()) == (
        "Frequency (Hz)",
        "Time (s)",
        "mix",
    )
    assert _colorbar_labels(fig) == ["Magnitude (dB re. loudest bin)"]
    # Time axis in seconds: the last frame sits at (n_frames - 1) * hop / sr.
    assert ax.get_xlim()[1] == pytest.approx(50 * HOP / SR, rel=0.05)
    # The data are dB below the peak: the loudest bin is 0 dB.
    data = ax.collections[0].get_array()
    assert data.max() == pytest.approx(0.0)
    path = tmp_path / "fig4.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000


def test_spectrogram_draws_on_a_given_axes(magnitudes):
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_spectrogram(magnitudes[0], sr=SR, hop_length=HOP, ax=right) is fig
    assert right.collections and not left.collections


def test_reconstruction_prints_its_error_on_the_figure():
    rng = np.random.default_rng(1)
    V = rng.random((129, 40))
    V_hat = np.clip(V + 0.1 * rng.standard_normal(V.shape), 0, 1)
    fig = plot_reconstruction(V, V_hat, sr=SR, hop_length=HOP)
    top, bottom = fig.axes[:2]
    err = reconstruction_error(V, V_hat)
    assert top.get_title() == "(a) input"
    assert bottom.get_title() == (
        f"(b) reconstruction: cross-entropy {err.cross_entropy:.3f}, spectral SNR {err.snr:.1f} dB"
    )
    # The printed SNR is the spectral SNR of the panels, computed here anew.
    snr = 10 * np.log10((V**2).sum() / ((V - V_hat) ** 2).sum())
    assert f"spectral SNR {snr:.1f} dB" in bottom.get_title()
    assert all(ax.get_yscale() in ("log", "symlog") for ax in (top, bottom))
    assert _colorbar_labels(fig) == ["Network value (log-scaled magnitude, 0 to 1)"]


def test_reconstruction_in_db_with_the_transformers_unscale():
    rng = np.random.default_rng(2)
    spec = SpectrogramTransformer(sr=SR, bandwidth=150, n_frames=1).fit(
        rng.standard_normal((1, SR))
    )
    V = spec.scale(np.abs(spec.stft(rng.standard_normal(SR))))
    fig = plot_reconstruction(V, 0.9 * V, sr=SR, hop_length=spec.hop_length_, unscale=spec.unscale)
    top, bottom = fig.axes[:2]
    assert _colorbar_labels(fig) == ["Magnitude (dB re. loudest input bin)"]
    shown = top.collections[0].get_array()
    assert shown.max() == pytest.approx(0.0)
    # The reconstruction is quieter than the input everywhere it is not silent.
    assert bottom.collections[0].get_array().max() < 0


def test_code_units_are_sorted_by_the_instrument_they_prefer():
    rng = np.random.default_rng(3)
    names = ["drums", "flute", "guitar", "piano", "violin"]
    codes = rng.random((5, 200))
    codes[2, :] *= 0.1  # guitar prefers no unit: its group is empty
    fig = plot_code_activations(codes, names)
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert shown.shape == codes.shape
    preferred = codes.argmax(axis=0)
    # Shown columns are the network's columns, reordered.
    order = [int(np.flatnonzero((codes.T == column).all(axis=1))[0]) for column in shown.T]
    assert sorted(order) == list(range(200))
    # Grouped by preferred instrument, strongest first within a group.
    assert np.all(np.diff(preferred[order]) >= 0)
    for k in range(5):
        group = shown[k, preferred[order] == k]
        assert np.all(np.diff(group) <= 0)
    counts = np.bincount(preferred, minlength=5)
    assert counts[2] == 0
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        f"{name}\n{n} units" for name, n in zip(names, counts) if n
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    # One white line between neighbouring non-empty groups.
    assert len(ax.lines) == 4
    assert _colorbar_labels(fig) == ["Mean activation (0 = off, 1 = on)"]


def test_code_group_names_of_narrow_groups_are_staggered():
    codes = np.full((3, 300), 0.2)
    codes[0, :2] = codes[1, 2:4] = codes[2, 4:] = 0.9  # two groups of 2 units side by side
    labels = [
        t.get_text() for t in plot_code_activations(codes, list("abc")).axes[0].get_xticklabels()
    ]
    assert labels == ["a\n2 units", "\n\nb\n2 units", "c\n296 units"]


def test_code_activations_unsorted_keep_the_networks_order():
    codes = np.random.default_rng(4).random((2, 30))
    ax = plot_code_activations(codes, ["a", "b"], sort=False).axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), codes)
    assert ax.get_xlabel() == "code-layer unit"


def test_separation_figure_rows_titles_and_shared_db_scale(magnitudes):
    estimates = magnitudes * np.array([1.0, 0.5, 0.1])[:, None, None]
    fig = plot_separation(
        magnitudes,
        estimates,
        sr=SR,
        hop_length=HOP,
        names=["drums", "flute", "piano"],
        sdr=[9.26, 3.0, -1.04],
    )
    panels = _panels(fig)
    assert len(panels) == 6
    assert [ax.get_title() for ax in panels] == [
        "drums: reference",
        "drums: estimate, SDR 9.3 dB",
        "flute: reference",
        "flute: estimate, SDR 3.0 dB",
        "piano: reference",
        "piano: estimate, SDR -1.0 dB",
    ]
    assert all(ax.get_yscale() in ("log", "symlog") for ax in panels)
    assert {ax.collections[0].get_clim() for ax in panels} == {(-80.0, 0.0)}
    # One scale for all: the quieter estimates are drawn quieter (-6 and -20 dB).
    peaks = [ax.collections[0].get_array().max() for ax in panels[1::2]]
    np.testing.assert_allclose(peaks, 20 * np.log10([1.0, 0.5, 0.1]), atol=0.1)
    assert _colorbar_labels(fig) == ["Magnitude (dB re. loudest reference bin)"]


def test_separation_without_names_or_sdr(magnitudes):
    fig = plot_separation(magnitudes[:1], magnitudes[:1], sr=SR, hop_length=HOP)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["source 1: reference", "source 1: estimate"]


def test_separation_into_a_given_figure(magnitudes):
    fig = plt.figure()
    assert plot_separation(magnitudes, magnitudes, sr=SR, hop_length=HOP, fig=fig) is fig


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda S: plot_spectrogram(S[0, 0], sr=SR, hop_length=HOP),
            r"shape \(n_bins, n_frames\)",
        ),
        (lambda S: plot_spectrogram(-S[0], sr=SR, hop_length=HOP), "non-negative"),
        (lambda S: plot_spectrogram(0 * S[0], sr=SR, hop_length=HOP), "all zero"),
        (lambda S: plot_spectrogram(S[0], sr=0, hop_length=HOP), "'sr' parameter"),
        (
            lambda S: plot_reconstruction(S[0] / 10, S[1, :, :10] / 10, sr=SR, hop_length=HOP),
            r"one shape, got \(129, 50\) and \(129, 10\)",
        ),
        (
            lambda S: plot_reconstruction(S[0], S[0], sr=SR, hop_length=HOP),
            r"values in \[0, 1\]",
        ),
        (
            lambda S: plot_separation(S, S[:2], sr=SR, hop_length=HOP),
            r"estimates have shape \(2, 129, 50\) but references \(3, 129, 50\)",
        ),
        (
            lambda S: plot_separation(S[0], S[0], sr=SR, hop_length=HOP),
            r"references must be a non-empty array of shape \(n_sources, n_bins, n_frames\)",
        ),
        (
            lambda S: plot_separation(S, S, sr=SR, hop_length=HOP, names=["a", "b"]),
            "names has 2 entries for 3 sources",
        ),
        (
            lambda S: plot_separation(S, S, sr=SR, hop_length=HOP, sdr=[1.0, 2.0]),
            r"sdr must have shape \(3,\)",
        ),
        (
            lambda S: plot_code_activations(S[0], ["a", "b"]),
            "instruments has 2 names but mean_codes has 129 rows",
        ),
        (
            lambda S: plot_code_activations(S[0, 0], ["a"]),
            r"shape \(n_instruments, n_units\), got shape \(50,\)",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(magnitudes, call, match):
    with pytest.raises(ValueError, match=match):
        call(magnitudes)
