"""The ``skaesep`` command line: demo, train, separate, evaluate, models, info."""

import argparse
import os
import secrets
import sys
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from ._progress import Stages, bar, fit_with_progress

DEMO_INSTRUMENTS = ("drums", "flute", "piano")


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

    progress = Stages(args.quiet)
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
        fit_with_progress(model, train.data, train.target, quiet=args.quiet, echo=args.verbose)
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
        V,
        reconstruction,
        sr=spectrogram.sr,
        hop_length=spectrogram.hop_length_,
        unscale=spectrogram.unscale,
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
    """Fit a model on a folder of stems (one subfolder per instrument), or blind on any audio."""
    from threadpoolctl import threadpool_limits

    from .persistence import save_model

    progress = Stages(args.quiet)
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(
            f"-o {out} is a folder; give the model file to write, e.g. {out}/model.skaesep."
        )
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it.")
    n_segment = int(round(args.segment * args.sr))
    if n_segment < 2:
        raise ValueError(f"--segment {args.segment:g} s at {args.sr} Hz holds no audio.")
    if args.blind:
        X, labels = _blind_segments(args, n_segment, progress), None
    else:
        X, labels = _labelled_segments(args, n_segment, progress)
    model = _model(args, args.sr)
    if args.threads:
        model.set_params(pipeline__autoencoder__n_threads=args.threads)
    if args.n_sources is not None:
        if not args.blind:
            raise ValueError("--n-sources is for --blind training (labels give the sources).")
        model.set_params(pipeline__clusterer__n_sources=args.n_sources)
    progress(
        f"training the '{args.preset}' model" + (" blind, without labels" if args.blind else "")
    )
    with threadpool_limits(limits=args.threads):
        fit_with_progress(model, X, labels, quiet=args.quiet, echo=args.verbose)
    times = ", ".join(f"{stage} {t:.1f} s" for stage, t in model.stage_times_.items())
    progress(f"wall time by stage: {times}")
    save_model(model, out)
    mode = "blind model, " if model.blind_ else ""
    progress(f"saved {out} ({mode}sources: {', '.join(map(str, model.classes_))})")
    return 0


def _blind_segments(args, n_segment, progress):
    """Segments of every audio file below the folder, labels unknown (``--blind``)."""
    from .audio import audio_files, display_name
    from .datasets import _read_clip

    files = audio_files(args.stems_dir)
    if not files:
        raise ValueError(f"no audio files below {display_name(args.stems_dir)}.")
    segments = [_segments(_read_clip(path, args.sr, mono=True)[0], n_segment) for path in files]
    X = np.concatenate(segments)
    progress(f"{len(files)} file(s), no labels: {len(X)} segment(s) of {args.segment:g} s")
    return X


def _labelled_segments(args, n_segment, progress):
    """Segments of the stems of each instrument subfolder, and their instruments."""
    from .datasets import load_stems

    stems = load_stems(args.stems_dir, sr=args.sr)
    if len(stems.target_names) < 2:
        raise ValueError(
            f"{args.stems_dir} holds one instrument ({stems.target_names[0]}); a separator "
            "needs at least two instrument subfolders (with one it returns the mixture)."
        )
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
    return X, np.asarray(labels)


# ------------------------------------------------------------------------- separate
def _inputs(paths, out):
    """Files to separate: the files given and the audio files below the folders given.

    Files inside ``out`` (earlier outputs) are not taken from folders. An
    empty folder is an error of its own.
    """
    from .audio import audio_files, display_name

    out = out.resolve()
    files, errors = [], []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        found = [f for f in audio_files(path) if not f.resolve().is_relative_to(out)]
        if not found:
            errors.append((path, f"no audio files in folder {display_name(path)}."))
        files += found
    unique = list({f.resolve(): f for f in files}.values())  # a file named twice once
    return unique, errors


def _duration(path):
    """Seconds of audio in ``path`` by its header (0 if unreadable), for the bar."""
    import soundfile as sf

    try:
        return sf.info(os.fsencode(path)).duration
    except Exception:  # the separation reports unreadable files in our words
        return 0.0


def _separate_track(file, job):
    """Separate one file and write its track; returns notes or raises ValueError/OSError."""
    from threadpoolctl import threadpool_limits

    from ._output import TrackWriter
    from .audio import display_name
    from .separation import separate_blocks

    existing = [p for p in job["paths"].values() if (job["out"] / p).exists()]
    if existing and not job["force"]:
        raise FileExistsError(
            f"{display_name(job['out'] / existing[0])} already exists (separated before?); "
            "pass --force to overwrite."
        )
    job["out"].mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with threadpool_limits(limits=job["threads"]):
            # Streamed: the input decoded to a memory map in --out, the
            # sources written block by block, so memory stays bounded.
            result = separate_blocks(
                file,
                job["model"],
                sources=job["sources"],
                n_sources=job["n_sources"],
                mmap_dir=job["out"],
            )
            written = [job["paths"][name] for name in result.names]
            with TrackWriter(
                job["out"],
                written,
                job["folder"],
                result.sr,
                result.n_channels,
                format=job["format"],
                bit_depth=job["bit_depth"],
                prefix=job["prefix"],
            ) as writer:
                for block in result.blocks:
                    writer.write(block)
    notes = [str(w.message) for w in caught]
    if result.detected is not None:
        notes.append(_presence_note(job["model"].classes_, result.detected))
    if writer.n_clipped:
        notes.append(f"{writer.n_clipped} sample(s) clipped into [-1, 1] for {job['format']}")
    return written, notes


def _presence_note(classes, detected):
    """Which sources the presence detector found and with what probability."""
    found = set(detected.present)
    parts = [f"{name} {p:.2f}" for name, p in zip(classes, detected.probabilities)]
    missing = [n for n in classes if n not in found]
    note = "found " + ", ".join(str(n) for n in detected.present)
    if missing:
        note += " (not found: " + ", ".join(map(str, missing)) + ")"
    return note + "; presence probabilities: " + ", ".join(parts)


def _run_separation(k, file, job):
    """:func:`_separate_track` with its errors as a result (job ``k`` of the batch)."""
    try:
        return (k, *_separate_track(file, job), None)
    except (ValueError, OSError) as exc:
        return k, [], [], str(exc)


def _listing(name, job, written, notes):
    """One line of the output listing: where a track went, and what to know about it."""
    from .audio import display_name

    out = job["out"]
    if job["folder"] is not None:
        where = f"{len(written)} source(s) in {display_name(out / job['folder'])}/"
    else:
        where = ", ".join(display_name(out / p) for p in written)
    return "; ".join([f"{name}: {where}", *notes])


def _chosen_sources(args, model):
    """``sources`` for :func:`skaesep.separate` from --instruments / --all-sources."""
    if args.instruments:
        unknown = [n for n in args.instruments if n not in list(model.classes_)]
        if unknown:
            raise ValueError(
                f"--instruments {' '.join(unknown)}: not in the model, whose sources are "
                f"{', '.join(map(str, model.classes_))}."
            )
        if model.blind_:
            raise ValueError("--instruments needs an identified model; give --n-sources.")
        return list(args.instruments)
    if args.all_sources or args.n_sources is not None:
        return None
    return "auto"


def cmd_separate(args):
    """Separate files and folders; a bad file is reported and the others go on."""
    import joblib

    from ._output import TEMP_PREFIX, OutputTemplate, check_unique, remove_partial, track_names
    from .audio import display_name, output_format
    from .persistence import load_model

    output_format(args.format, args.bit_depth)  # an unwritable format fails before any work
    template = OutputTemplate(args.filename)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {display_name(out)} is a file; give the output folder.")
    files, failed = _inputs(args.inputs, out)
    model = load_model(args.model)
    sources = _chosen_sources(args, model)
    names = track_names(files)
    plan = {name: template.paths(name, model.classes_, args.format) for name in names}
    check_unique(plan, args.filename)
    threads = args.threads or max(1, joblib.cpu_count() // args.jobs)
    model.pipeline_.set_params(autoencoder__n_threads=threads)
    prefix = f"{TEMP_PREFIX}{secrets.token_hex(4)}-"
    jobs = [
        dict(
            out=out,
            paths=dict(zip(model.classes_, plan[name])),
            sources=sources,
            n_sources=args.n_sources,
            folder=template.folder(name),
            model=model,
            format=args.format,
            bit_depth=args.bit_depth,
            force=args.force,
            threads=threads,
            prefix=prefix,
        )
        for name in names
    ]
    for path, message in failed:
        print(f"skaesep separate: {display_name(path)}: {message}", file=sys.stderr)
    seconds = [_duration(file) for file in files]
    try:
        with bar(total=sum(seconds), unit="s audio", desc="separating", quiet=args.quiet) as b:
            results = joblib.Parallel(n_jobs=args.jobs, return_as="generator_unordered")(
                joblib.delayed(_run_separation)(k, file, job)
                for k, (file, job) in enumerate(zip(files, jobs))
            )
            for k, written, notes, error in results:
                b.update(seconds[k])
                name = display_name(files[k])
                if error:
                    failed.append((files[k], error))
                    b.write(f"skaesep separate: {name}: {error}", file=sys.stderr)
                elif not args.quiet:
                    b.write(_listing(name, jobs[k], written, notes), file=sys.stdout)
    finally:  # Ctrl-C or a killed worker: no partial track stays behind
        remove_partial(out, prefix)
    return 1 if failed else 0


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
    """BSS Eval of estimate files against reference files, one row per source."""
    from .audio import display_name, read_audio
    from .metrics import evaluate_separation, format_table

    if len(args.references) != len(args.estimates):
        raise ValueError(
            f"got {len(args.references)} reference(s) but {len(args.estimates)} estimate(s)."
        )

    def load(paths):
        signals, rates = [], set()
        for path in paths:
            audio, sr = read_audio(path)
            signals.append(audio if audio.ndim == 1 else audio.mean(axis=0))
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
    rows = {}
    for k, ref in enumerate(args.references):
        label = display_name(ref)
        if args.permutation:
            label += f" ~ {display_name(args.estimates[result.perm[k]])}"
        rows[label] = {
            key: result[key][k] for key in ("sdr", "sir", "sar", "sdri") if key in result
        }
    rows["mean"] = result
    print(format_table(rows))
    return 0


# --------------------------------------------------------------------------- parser
def _positive(kind):
    """An argparse type: a number of ``kind`` above 0, with our message otherwise."""

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0 or not np.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


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
    parser.add_argument("-v", "--verbose", action="store_true", help="print training epochs")


def _add_quiet(parser, what="progress or output listing"):
    parser.add_argument("-q", "--quiet", action="store_true", help=f"print no {what}")


def build_parser():
    """The argument parser of the ``skaesep`` command."""
    from ._output import DEFAULT_TEMPLATE, TEMPLATE_KEYS
    from .audio import OUTPUT_FORMATS

    parser = argparse.ArgumentParser(
        prog="skaesep",
        description="Music source separation with a stacked-RBM deep autoencoder.",
    )
    parser.add_argument("--version", action="version", version=f"skaesep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="separate built-in synthetic instruments, no data needed")
    demo.add_argument(
        "-o", "--out", default="skaesep-demo", help="output folder (default: skaesep-demo)"
    )
    demo.add_argument(
        "--instruments",
        nargs="+",
        default=list(DEMO_INSTRUMENTS),
        help="2-5 of drums flute guitar violin piano (default: drums flute piano)",
    )
    demo.add_argument(
        "--duration", type=_positive(float), default=10.0, help="seconds per clip (default: 10)"
    )
    demo.add_argument(
        "--n-train",
        type=_positive(int),
        default=4,
        help="training clips per instrument (default: 4)",
    )
    demo.add_argument(
        "--sr", type=_positive(int), default=44100, help="sample rate (default: 44100)"
    )
    demo.add_argument("--force", action="store_true", help="overwrite files in --out")
    _add_quiet(demo, "progress (only the table)")
    _add_model_options(demo)
    demo.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="fit a model on a folder of stems")
    train.add_argument(
        "stems_dir",
        help="folder with one subfolder of recordings per instrument "
        "(with --blind: any audio files below it, no labels)",
    )
    train.add_argument(
        "--blind",
        action="store_true",
        help="train without labels: sources found by timbre grouping, named source_1...",
    )
    train.add_argument(
        "--n-sources",
        type=_positive(int),
        help="with --blind: how many sources to find (default: chosen by silhouette)",
    )
    train.add_argument("-o", "--out", required=True, help="model file to write")
    train.add_argument(
        "--sr", type=_positive(int), default=44100, help="sample rate (default: 44100)"
    )
    train.add_argument(
        "--segment",
        type=_positive(float),
        default=10.0,
        help="seconds per training segment (default: 10)",
    )
    train.add_argument(
        "--threads",
        type=_positive(int),
        help="threads sharing each mini-batch, one BLAS thread each "
        "(default: the cores, at most 8)",
    )
    train.add_argument("--force", action="store_true", help="overwrite --out")
    _add_quiet(train, "progress")
    _add_model_options(train)
    train.set_defaults(func=cmd_train)

    sep = sub.add_parser("separate", help="separate audio files with a trained model")
    sep.add_argument(
        "inputs",
        nargs="+",
        help="audio files (any length, rate and channel count) or folders (their audio "
        "files, recursively)",
    )
    sep.add_argument(
        "-n",
        "--model",
        default="default",
        help="model file from `skaesep train`, or a built-in model's name "
        "(`skaesep models`; default: the built-in 'default')",
    )
    sep.add_argument("-o", "--out", required=True, help="output folder")
    sep.add_argument(
        "--filename",
        default=DEFAULT_TEMPLATE,
        help="output path inside --out, from the keys "
        + ", ".join(f"{{{k}}}" for k in TEMPLATE_KEYS)
        + f" (default: {DEFAULT_TEMPLATE.replace('%', '%%')})",
    )
    sep.add_argument(
        "--format",
        choices=list(OUTPUT_FORMATS),
        default="wav",
        help="output format (default: wav)",
    )
    sep.add_argument(
        "--bit-depth",
        type=int,
        choices=(16, 24, 32),
        help="16, 24 or 32 (float) for wav, 16 or 24 for flac (default: 32 for wav, 24 for flac)",
    )
    which = sep.add_mutually_exclusive_group()
    which.add_argument(
        "--instruments",
        nargs="+",
        metavar="NAME",
        help="the instruments known to play (default: the ones the model detects)",
    )
    which.add_argument(
        "--n-sources",
        type=_positive(int),
        metavar="K",
        help="write the K sources likeliest present (e.g. for a blind model)",
    )
    which.add_argument(
        "--all-sources", action="store_true", help="write every source of the model"
    )
    sep.add_argument(
        "-j", "--jobs", type=_positive(int), default=1, help="files separated in parallel"
    )
    sep.add_argument(
        "--threads",
        type=_positive(int),
        help="threads per job, one BLAS thread each (default: the cores divided by --jobs)",
    )
    sep.add_argument("--force", action="store_true", help="overwrite existing outputs")
    _add_quiet(sep)
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
    except KeyboardInterrupt:
        print(f"skaesep {args.command}: interrupted; no partial output left.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
