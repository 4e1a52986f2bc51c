import matplotlib.pyplot as plt
import numpy as np

from skaesep.plotting import plot_code_activations, plot_reconstruction, plot_spectrogram


def test_figures_have_the_reports_panels(tmp_path):
    rng = np.random.default_rng(0)
    V = rng.random((533, 60))
    fig4 = plot_spectrogram(V, sr=44100, hop_length=266)
    fig5 = plot_reconstruction(V, V * 0.5, sr=44100, hop_length=266)
    fig6 = plot_code_activations(
        rng.random((5, 500)), ["drums", "flute", "guitar", "piano", "violin"]
    )
    assert [ax.get_title() for ax in fig5.axes[:2]] == ["(a) input", "(b) reconstruction"]
    assert fig6.axes[0].images[0].get_array().shape == (5, 500)
    for k, fig in enumerate((fig4, fig5, fig6)):
        path = tmp_path / f"fig{k}.png"
        fig.savefig(path)
        assert path.stat().st_size > 1000
        plt.close(fig)
