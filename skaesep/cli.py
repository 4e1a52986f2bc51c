"""The ``skaesep`` command line: demo, train, separate, evaluate, models, info."""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from . import __version__

DEMO_INSTRUMENTS = ("drums", "flute", "piano")


class _Progress:
    """Prints each stage with the time since the command started."""

    def __init__(self, quiet=False):
        self.start = time.perf_counter()
        self.quiet = quiet

    def __call__(self, message):
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:6.1f}s] {message}", flush=True)


def _segments(clip, n_samples):
    """Cut a clip into whole segments of ``n_samples`` (a shorter clip is padded)."""
    if clip.size < n_samples:
        return np.pad(clip, (0, n_samples - clip.size))[None]
    n = clip.size // n_samples
    return clip[: n * n_samples].reshape(n, n_samples)


def _model(args, sr):
    from .presets import make_preset

    return make_preset(
        args.preset,
        sr=sr,
        random_state=args.seed,
        verbose=int(args.verbose),
    )


def _write_sources(out_dir, sources, names, sr, force):
    from .audio import write_audio

    paths = [Path(out_dir) / f"{name}.wav" for name in names]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(f"{', '.join(existing)} exist(s); pass --force to overwrite.")
    for path, source in zip(paths, sources):
        write_audio(path, source, sr, force=force)
    return paths


# ----------------------------------------------------------------------------- demo
def cmd_demo(args):
    """Train on built-in synthetic instruments and separate a held-out mixture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .audio import write_audio
    from .datasets import make_instrument_dataset, make_instrument_stem
    from .metrics import evaluate_separation, format_table, ideal_ratio_mask
    from .persistence import save_model
    from .plotting import plot_code_activations, plot_reconstruction, plot_spectrogram

    progress = _Progress(args.quiet)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise FileExistsError(f"{out} is not empty; pass --force to overwrite its files.")
    instruments = tuple(sorted(args.instruments))
    sr = args.sr
    progress(
        f"making {args.n_train} training clip(s) of {args.duration:g} s per instrument: "
        + ", ".join(instruments)
    )
    train = make_instrument_dataset(
        instruments=instruments,
        n_clips_per_instrument=args.n_train,
        duration=args.duration,
        sr=sr,
        random_state=args.seed,
    )
    # Held-out notes: seeds the training set never uses.
    references = np.stack(
        [
            make_instrument_stem(name, duration=args.duration, sr=sr, random_state=10_000 + k)
            for k, name in enumerate(instruments)
        ]
    )
    mixture = references.sum(axis=0)

    model = _model(args, sr)
    progress(f"training the '{args.preset}' model on {len(train.data)} clips (identified mode)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(train.data, train.target)
    spectrogram, autoencoder, clusterer = (step for _, step in model.pipeline_.steps)
    progress("separating the held-out mixture")
    estimates = model.separate(mixture)

    progress(f"writing audio, the true stems, the model and figures to {out}/")
    out.mkdir(parents=True, exist_ok=True)
    write_audio(out / "mixture.wav", mixture, sr, force=True)
    for name, source in zip(model.classes_, estimates):
        write_audio(out / f"{name}.wav", source, sr, force=True)
    for name, reference in zip(instruments, references):
        write_audio(out / "references" / f"{name}.wav", reference, sr, force=True)
    save_model(
        model,
        out / "model.skaesep",
        description=f"skaesep demo: '{args.preset}' preset on synthetic {', '.join(instruments)}",
    )
    _demo_figures(
        out,
        model,
        train,
        mixture,
        plt,
        plot_spectrogram,
        plot_reconstruction,
        plot_code_activations,
    )

    progress("scoring with BSS Eval")
    order = [list(model.classes_).index(name) for name in instruments]
    rows = {
        "skaesep (identified)": evaluate_separation(references, estimates[order], mixture),
        "mixture": evaluate_separation(
            references, np.stack([mixture] * len(instruments)), mixture
        ),
        "oracle ratio mask": evaluate_separation(
            references,
            ideal_ratio_mask(
                references, n_fft=spectrogram.win_length_, hop_length=spectrogram.hop_length_
            ),
            mixture,
        ),
    }
    print()
    print(f"BSS Eval on a held-out mixture of {', '.join(instruments)} (dB, mean over sources)")
    print(format_table(rows))
    progress("done")
    if not args.quiet:
        _demo_next_steps(out, instruments)
    return 0


def _demo_next_steps(out, instruments):
    separated = out / "separated"
    print()
    print("Next: separate a recording with the saved model (your own, or this mixture),")
    print("and score the result against the true stems:")
    print(
        f"  skaesep separate {out / 'mixture.wav'} --model {out / 'model.skaesep'} "
        f"--out {separated}"
    )
    print(
        "  skaesep evaluate --mixture "
        + str(out / "mixture.wav")
        + " --references "
        + " ".join(str(out / "references" / f"{name}.wav") for name in instruments)
        + " --estimates "
        + " ".join(str(separated / "mixture" / f"{name}.wav") for name in instruments)
    )


def _demo_figures(
    out, model, train, mixture, plt, plot_spectrogram, plot_reconstruction, plot_code_activations
):
    spectrogram, autoencoder, _ = (step for _, step in model.pipeline_.steps)
    magnitude = np.abs(spectrogram.stft(mixture))
    fig = plot_spectrogram(
        magnitude,
        sr=spectrogram.sr,
        hop_length=spectrogram.hop_length_,
        title="Fig. 4: input spectrogram of the mixture",
    )
    fig.savefig(out / "fig4_spectrogram.png", dpi=100)
    plt.close(fig)

    V = spectrogram.scale(magnitude)
    chunks = spectrogram.to_chunks(V)
    reconstruction = spectrogram.from_chunks(
        autoencoder.decode(autoencoder.encode(chunks)), V.shape[1]
    )[0]
    fig = plot_reconstruction(
        V, reconstruction, sr=spectrogram.sr, hop_length=spectrogram.hop_length_
    )
    fig.savefig(out / "fig5_reconstruction.png", dpi=100)
    plt.close(fig)

    names = np.unique(train.target)
    codes = autoencoder.transform(spectrogram.transform(train.data))
    n_units = autoencoder.encoder_weights_[-1].shape[1]
    mean_codes = [codes[train.target == name].reshape(-1, n_units).mean(axis=0) for name in names]
    fig = plot_code_activations(np.array(mean_codes), names)
    fig.savefig(out / "fig6_code_activations.png", dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------------------- train
def cmd_train(args):
    """Fit a model on a folder of stems (one subfolder per instrument)."""
    from .datasets import load_stems
    from .persistence import save_model

    progress = _Progress(args.quiet)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it.")
    stems = load_stems(args.stems_dir, sr=args.sr)
    n_segment = int(round(args.segment * args.sr))
    segments, labels = [], []
    for clip, name in zip(stems.data, stems.target):
        cut = _segments(clip, n_segment)
        segments.append(cut)
        labels += [name] * len(cut)
    X = np.concatenate(segments)
    progress(
        f"{len(stems.data)} file(s), {len(stems.target_names)} instrument(s) "
        f"({', '.join(stems.target_names)}): {len(X)} segment(s) of {args.segment:g} s"
    )
    model = _model(args, args.sr)
    progress(f"training the '{args.preset}' model")
    model.fit(X, np.asarray(labels))
    save_model(model, out)
    progress(f"saved {out} (sources: {', '.join(map(str, model.classes_))})")
    return 0


# ------------------------------------------------------------------------- separate
def cmd_separate(args):
    """Separate files with a trained model; a bad file does not stop the others."""
    from .persistence import load_model
    from .separation import separate

    progress = _Progress(args.quiet)
    model = load_model(args.model)
    failures = 0
    for file in args.files:
        target = Path(args.out) / Path(file).stem
        try:
            existing = [target / f"{name}.wav" for name in model.classes_]
            if not args.force and any(p.exists() for p in existing):
                raise FileExistsError(f"{target}/ already holds separated sources; pass --force.")
            result = separate(file, model)
            paths = _write_sources(target, result.sources, result.names, result.sr, args.force)
            progress(f"{file}: {len(paths)} source(s) written to {target}/")
        except (ValueError, OSError) as exc:
            failures += 1
            print(f"skaesep separate: {file}: {exc}", file=sys.stderr)
    return 1 if failures else 0


# --------------------------------------------------------------------- models, info
def _megabytes(n_bytes):
    return f"{n_bytes / 2**20:.1f} MB"


def cmd_models(args):
    """List the built-in models."""
    from .persistence import list_models, model_info

    names = list_models()
    if not names:
        print("no built-in model is installed (see scripts/train_default_model.py)")
        return 1
    for name in names:
        info = model_info(name)
        print(
            f"{name}: {', '.join(info['instruments'])}; {info['sample_rate']} Hz; "
            f"{info['mode']}; skaesep {info['skaesep_version']}; {_megabytes(info['file_size'])}"
        )
        if info["description"]:
            print(f"    {info['description']}")
    return 0


def cmd_info(args):
    """Describe a model file or a built-in model."""
    from .persistence import model_info

    info = model_info(args.model)
    stft = info["stft"]
    rows = {
        "model": info["path"],
        "file size": f"{_megabytes(info['file_size'])} ({info['file_size']} bytes)",
        "description": info["description"] or "-",
        "instruments": ", ".join(info["instruments"]),
        "mode": info["mode"],
        "sample rate": f"{info['sample_rate']} Hz",
        "STFT": (
            f"{stft['window']} window of {stft['win_length']} samples (bandwidth "
            f"{stft['bandwidth']:g} Hz), hop {stft['hop_length']}, {stft['n_bins']} bins, "
            f"{stft['n_frames']} frame(s) per input, {stft['compression']} scaling over "
            f"{stft['dynamic_range']:g} dB"
        ),
        "layer sizes": "-".join(map(str, info["layer_sizes"])) + " (input to code layer)",
        "written by": f"skaesep {info['skaesep_version']} (model format {info['format_version']})",
    }
    for key, value in rows.items():
        print(f"{key:<12} {value}")
    return 0


# ------------------------------------------------------------------------- evaluate
def cmd_evaluate(args):
    """BSS Eval of estimate files against reference files."""
    from .audio import read_audio
    from .metrics import evaluate_separation, format_table

    if len(args.references) != len(args.estimates):
        raise ValueError(
            f"got {len(args.references)} reference(s) but {len(args.estimates)} estimate(s)."
        )

    def load(paths):
        signals, rates = [], set()
        for path in paths:
            y, sr = read_audio(path)
            signals.append(y if y.ndim == 1 else y.mean(axis=0))
            rates.add(sr)
        return signals, rates

    refs, ref_rates = load(args.references)
    ests, est_rates = load(args.estimates)
    if len(ref_rates | est_rates) > 1:
        raise ValueError(
            f"files have mismatched sample rates: {sorted(ref_rates | est_rates)} Hz."
        )
    lengths = {y.size for y in refs + ests}
    if len(lengths) > 1:
        raise ValueError(f"files have different lengths: {sorted(lengths)} samples.")
    refs, ests = np.stack(refs), np.stack(ests)
    mixture = None
    if args.mixture:
        mix, sr = read_audio(args.mixture)
        mixture = mix if mix.ndim == 1 else mix.mean(axis=0)
        if sr not in ref_rates or mixture.size not in lengths:
            raise ValueError("the mixture's sample rate or length differs from the references'.")
    result = evaluate_separation(refs, ests, mixture, compute_permutation=args.permutation)
    print(format_table({"estimates": result}))
    return 0


# --------------------------------------------------------------------------- parser
def _add_model_options(parser):
    from .presets import PRESETS

    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="separation",
        help="model configuration: 'separation' (the best measured, "
        "docs/quality.rst), 'report' (the report's network) or 'demo' "
        "(fastest) (default: separation)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--verbose", action="store_true", help="print training epochs")


def build_parser():
    """The argument parser of the ``skaesep`` command."""
    parser = argparse.ArgumentParser(
        prog="skaesep",
        description="Music source separation with a stacked-RBM deep autoencoder.",
    )
    parser.add_argument("--version", action="version", version=f"skaesep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="separate built-in synthetic instruments, no data needed")
    demo.add_argument(
        "--out", default="skaesep-demo", help="output folder (default: skaesep-demo)"
    )
    demo.add_argument(
        "--instruments",
        nargs="+",
        default=list(DEMO_INSTRUMENTS),
        help="2-5 of drums flute guitar violin piano (default: drums flute piano)",
    )
    demo.add_argument(
        "--duration", type=float, default=10.0, help="seconds per clip (default: 10)"
    )
    demo.add_argument(
        "--n-train", type=int, default=4, help="training clips per instrument (default: 4)"
    )
    demo.add_argument("--sr", type=int, default=44100, help="sample rate (default: 44100)")
    demo.add_argument("--force", action="store_true", help="overwrite files in --out")
    demo.add_argument("--quiet", action="store_true", help="print only the table")
    _add_model_options(demo)
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="fit a model on a folder of stems")
    train.add_argument("stems_dir", help="folder with one subfolder of recordings per instrument")
    train.add_argument("--out", required=True, help="model file to write")
    train.add_argument("--sr", type=int, default=44100, help="sample rate (default: 44100)")
    train.add_argument(
        "--segment", type=float, default=10.0, help="seconds per training segment (default: 10)"
    )
    train.add_argument("--force", action="store_true", help="overwrite --out")
    train.add_argument("--quiet", action="store_true")
    _add_model_options(train)
    train.set_defaults(func=cmd_train)

    sep = sub.add_parser("separate", help="separate audio files with a trained model")
    sep.add_argument("files", nargs="+", help="audio files (any length, rate and channel count)")
    sep.add_argument(
        "--model",
        default="default",
        help="model file from `skaesep train`, or a built-in model's name "
        "(`skaesep models`; default: the built-in 'default')",
    )
    sep.add_argument("--out", required=True, help="output folder: OUT/<track>/<source>.wav")
    sep.add_argument("--force", action="store_true", help="overwrite existing outputs")
    sep.add_argument("--quiet", action="store_true")
    sep.set_defaults(func=cmd_separate)

    ev = sub.add_parser("evaluate", help="BSS Eval of estimates against references")
    ev.add_argument("--references", nargs="+", required=True, help="reference source files")
    ev.add_argument("--estimates", nargs="+", required=True, help="estimate files, same order")
    ev.add_argument("--mixture", help="mixture file, for the SDR improvement")
    ev.add_argument(
        "--permutation",
        action="store_true",
        help="match estimates to references by the best permutation (blind)",
    )
    ev.set_defaults(func=cmd_evaluate)

    models = sub.add_parser("models", help="list the built-in models")
    models.set_defaults(func=cmd_models)

    info = sub.add_parser("info", help="describe a model: instruments, rate, STFT, layers")
    info.add_argument("model", help="model file, or a built-in model's name")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv=None):
    """Entry point of the ``skaesep`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        print(f"skaesep {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
