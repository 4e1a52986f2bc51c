#!/usr/bin/env python
"""Score a built-in model on held-out FluidR3 mixtures (BSS Eval v3 SDR).

Renders one 20 s clip per instrument with another seed than training
(``--seed 1``: other note sequences), mixes at equal gain

* every pair and every triple of the report's five instruments (10 + 10
  mixtures, 50 sources: the mixtures of ``benchmarks/bench_separation.py``),
* and five pairs and five triples that hold at least one of cello, trumpet
  and clarinet (drawn with ``--seed``),

separates each with :func:`skaesep.separate` and scores the estimates with
:func:`skaesep.metrics.bss_eval` against the true stems:

* ``told``: ``sources=`` the instruments in the mixture (what ``skaesep
  separate --instruments`` does);
* ``auto``: the model detects the instruments (the default of ``skaesep
  separate``); a source it misses has no estimate and is counted apart, the
  SDR is the mean over the sources it did return;
* ``mixture``: the unprocessed mixture as every source's estimate.

::

    OPENBLAS_NUM_THREADS=1 python scripts/check_default_model.py --record

``--record`` writes the results into the model's ``.json`` training record
(``skaesep/models/default.json``) under ``quality_check``.
"""

import argparse
import importlib.util
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _render_module():
    path = Path(__file__).resolve().parent / "render_fluidr3.py"
    spec = importlib.util.spec_from_file_location("render_fluidr3", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mixtures(render, rng):
    """Tuples of instrument names: the benchmark's 20, then 5 + 5 with the new ones."""
    five = render.INSTRUMENTS
    new = set(render.ALL_INSTRUMENTS) - set(five)
    out = list(itertools.combinations(five, 2)) + list(itertools.combinations(five, 3))
    for k in (2, 3):
        pool = [c for c in itertools.combinations(render.ALL_INSTRUMENTS, k) if new & set(c)]
        out += [pool[i] for i in sorted(rng.choice(len(pool), size=5, replace=False))]
    return out


def summary(rows):
    told = [s for r in rows for s in r["told_sdr"]]
    mixture = [s for r in rows for s in r["mixture_sdr"]]
    auto = [s for r in rows for s in r["auto_sdr"].values()]
    return {
        "mixtures": len(rows),
        "sources": len(told),
        "told_mean_sdr": round(float(np.mean(told)), 2),
        "auto_mean_sdr": round(float(np.mean(auto)), 2) if auto else None,
        "auto_sources_missed": len(told) - len(auto),
        "auto_exact_detections": sum(
            sorted(r["detected"]) == sorted(r["instruments"]) for r in rows
        ),
        "mixture_mean_sdr": round(float(np.mean(mixture)), 2),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="default", help="model name or file")
    parser.add_argument("--seed", type=int, default=1, help="seed of the held-out notes")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per clip")
    parser.add_argument("--record", action="store_true", help="write into the model's .json")
    args = parser.parse_args(argv)

    import soundfile as sf

    from skaesep import load_model, separate
    from skaesep.metrics import bss_eval
    from skaesep.persistence import model_path

    render = _render_module()
    model = load_model(args.model)
    sr = int(model.pipeline_.steps[0][1].sr)
    known = set(map(str, model.classes_))
    names = [i for i in render.ALL_INSTRUMENTS if i in known]
    with tempfile.TemporaryDirectory() as tmp:
        render.render(
            tmp, n_clips=1, duration=args.duration, sr=sr, seed=args.seed, instruments=names
        )
        stems = {n: sf.read(Path(tmp) / n / f"{n}_0.wav", dtype="float32")[0] for n in names}

    start = time.perf_counter()
    rows = []
    for combo in mixtures(render, np.random.default_rng(args.seed)):
        if not set(combo) <= known:
            continue
        refs = np.stack([stems[n] for n in combo])
        mix = refs.sum(axis=0)
        told = separate(mix, model, sr=sr, sources=list(combo)).sources
        auto = separate(mix, model, sr=sr, sources="auto")
        found = [str(n) for n in auto.names]
        hit = [j for j, n in enumerate(combo) if n in found]
        auto_sdr = (
            bss_eval(refs[hit], auto.sources[[found.index(combo[j]) for j in hit]]).sdr
            if hit
            else np.array([])
        )
        row = {
            "instruments": list(combo),
            "detected": found,
            "told_sdr": bss_eval(refs, told).sdr.round(2).tolist(),
            "auto_sdr": dict(zip([combo[j] for j in hit], auto_sdr.round(2).tolist())),
            "mixture_sdr": bss_eval(refs, np.stack([mix] * len(combo))).sdr.round(2).tolist(),
        }
        rows.append(row)
        print(
            f"{'+'.join(combo):<28} told {np.mean(row['told_sdr']):6.2f}  auto "
            f"{np.mean(auto_sdr) if hit else float('nan'):6.2f} ({', '.join(found)})  "
            f"mixture {np.mean(row['mixture_sdr']):6.2f}",
            flush=True,
        )
    seconds = time.perf_counter() - start

    five = set(render.INSTRUMENTS)
    result = {
        "command": " ".join(
            ["python scripts/check_default_model.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "test_seed": args.seed,
        "clip_seconds": args.duration,
        "all": summary(rows),
        "report_five": summary([r for r in rows if set(r["instruments"]) <= five]),
        "with_new_instruments": summary([r for r in rows if not set(r["instruments"]) <= five]),
        "seconds": round(seconds, 1),
        "mixtures": rows,
    }
    print()
    header = ("mixtures", "n", "src", "told", "auto", "missed", "exact", "mixture")
    print("{:<22} {:>3} {:>4} {:>6} {:>6} {:>6} {:>5} {:>7}".format(*header))
    for key in ("report_five", "with_new_instruments", "all"):
        s = result[key]
        print(
            f"{key:<22} {s['mixtures']:>3} {s['sources']:>4} {s['told_mean_sdr']:>6.2f} "
            f"{s['auto_mean_sdr']:>6.2f} {s['auto_sources_missed']:>6} "
            f"{s['auto_exact_detections']:>5} {s['mixture_mean_sdr']:>7.2f}"
        )
    print(f"separation and scoring: {seconds:.0f} s")
    if args.record:
        record = model_path(args.model).with_suffix(".json")
        data = json.loads(record.read_text()) if record.is_file() else {}
        data["quality_check"] = result
        record.write_text(json.dumps(data, indent=2) + "\n")
        print(f"recorded in {record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
