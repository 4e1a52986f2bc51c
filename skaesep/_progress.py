"""Progress on the command line: stage messages and tqdm bars with time left."""

import contextlib
import io
import sys
import time

from tqdm import tqdm


class Stages:
    """Print each stage with the time since the command started (unless quiet)."""

    def __init__(self, quiet=False):
        self.start = time.perf_counter()
        self.quiet = quiet

    def __call__(self, message):
        if not self.quiet:
            tqdm.write(f"[{time.perf_counter() - self.start:6.1f}s] {message}", file=sys.stdout)


def bar(*, total, unit, desc, quiet):
    """A tqdm bar on stderr; off when quiet or when stderr is no terminal."""
    return tqdm(total=total, unit=unit, desc=desc, disable=True if quiet else None, leave=False)


def n_epochs(model, *, supervised):
    """Epochs a :class:`~skaesep.MaskResynthesizer` fit runs at most.

    RBM pretraining of each layer, fine-tuning, and the discriminative
    epochs when fitted with labels. Early stopping may end it sooner.
    """
    params = model.get_params()
    autoencoder = params["pipeline__autoencoder"]
    total = len(autoencoder.layer_sizes) * autoencoder.pretrain_epochs + autoencoder.max_iter
    return total + (model.discriminative_epochs if supervised else 0)


class _EpochLines(io.TextIOBase):
    """Stdout during a verbose fit: every "Iteration" line it prints ends one epoch."""

    def __init__(self, progress, echo, stdout):
        self.progress, self.echo, self.stdout = progress, echo, stdout
        self._pending = ""

    def writable(self):
        return True

    def write(self, text):
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if self.echo:
                self.progress.write(line, file=self.stdout)
            if "Iteration" in line:
                self.progress.update(1)
        return len(text)


def fit_with_progress(model, X, y=None, *, quiet=False, echo=False):
    """Fit ``model`` with a bar of its epochs (and the time left).

    skaesep's estimators print one "Iteration" line per epoch when ``verbose``;
    the fit runs verbose and each such line moves the bar (the lines themselves
    are shown only with ``echo``). Quiet fits run as they are.
    """
    if quiet:
        return model.fit(X, y)
    verbose = model.get_params()["pipeline__autoencoder__verbose"]
    model.set_params(pipeline__autoencoder__verbose=1)
    total = n_epochs(model, supervised=y is not None)
    try:
        with (
            bar(total=total, unit="epoch", desc="training", quiet=quiet) as progress,
            contextlib.redirect_stdout(_EpochLines(progress, echo, sys.stdout)),
        ):
            model.fit(X, y)
    finally:  # the saved model keeps the verbosity it was made with
        model.set_params(pipeline__autoencoder__verbose=verbose)
        if hasattr(model, "pipeline_"):
            model.pipeline_.set_params(autoencoder__verbose=verbose)
    return model
