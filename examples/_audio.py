"""Audio players for the gallery pages.

Not an example: a helper imported by ``plot_*.py``. sphinx-gallery puts the
``_repr_html_`` of a code block's last expression into the built page
(``capture_repr`` in ``docs/conf.py``), so a :class:`Players` there becomes
a table of HTML ``<audio controls>`` players, each a WAV file inlined as a
base64 data URI.
"""

import base64
import html
import io

import librosa
import numpy as np
import soundfile as sf

#: Sample rate of the inlined WAV files: a third of 44.1 kHz's bytes, and
#: every instrument's fundamental and first harmonics stay below 8 kHz.
PLAYER_SR = 16000
#: Largest sample of a table's loudest clip.
PEAK = 0.9


class Players:
    """A table of labelled audio players, one per clip.

    All clips of a table are scaled by the same factor (its loudest peak to
    ``PEAK``), so that their loudness can be compared by ear.

    Parameters
    ----------
    clips : dict of str to ndarray of shape (n_samples,)
        Label and waveform of each player, in the order shown.
    sr : int
        Sample rate of the waveforms.
    player_sr : int, default=PLAYER_SR
        Rate the waveforms are resampled to (:func:`librosa.resample`)
        before they are written as 16-bit WAV.
    """

    def __init__(self, clips, sr, *, player_sr=PLAYER_SR):
        self.clips = {label: np.asarray(y, dtype=np.float64) for label, y in clips.items()}
        self.sr = sr
        self.player_sr = player_sr

    def _data_uri(self, y, gain):
        if self.sr != self.player_sr:
            y = librosa.resample(y, orig_sr=self.sr, target_sr=self.player_sr)
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(y * gain, -1, 1), self.player_sr, format="WAV", subtype="PCM_16")
        return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    def _repr_html_(self):
        peak = max(float(np.max(np.abs(y))) for y in self.clips.values())
        gain = PEAK / peak if peak > 0 else 1.0
        rows = "".join(
            f"<tr><td>{html.escape(label)}</td><td><audio controls preload='none' "
            f"src='{self._data_uri(y, gain)}'></audio></td></tr>"
            for label, y in self.clips.items()
        )
        return f"<table class='skaesep-players'>{rows}</table>"

    def __repr__(self):
        return f"Players({', '.join(self.clips)})"
