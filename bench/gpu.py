"""Training throughput of the seed's v5 model: float32 vs mixed precision, batch 64 vs 256.

Meant for the GPU machine (JAX backend, no TensorFlow there); runs anywhere:

    KERAS_BACKEND=jax python bench/gpu.py --data ../shared/data/digit-recognizer
    python bench/gpu.py --images 2048          # a quick check on a CPU (mixed precision is slow there)

Each configuration trains v5 (with the seed's augmentation) in a fresh process for a warm-up pass
and then ``--epochs`` timed epochs over ``--images`` training images; the table goes to
results/benchmarks.md with the device it ran on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from results_file import write_section

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import json, sys, time
    from tuner.backend import import_keras_quietly, use_mixed_precision
    keras = import_keras_quietly()
    from tuner.data.kaggle import load_data
    from tuner.models.cnn import build_model
    from tuner.space.spaces import V5
    args = json.loads(sys.argv[1])
    train = load_data(args["data"], test=False).train
    x, y = train.images[: args["images"]], train.labels[: args["images"]]
    mixed = use_mixed_precision(args["mixed"])
    model = build_model({**V5, "batch_size": args["batch"]}, seed=0, train_size=len(x))
    model.fit(x[: args["batch"] * 20], y[: args["batch"] * 20], batch_size=args["batch"],
              epochs=1, verbose=0)  # compile and warm up
    started = time.perf_counter()
    model.fit(x, y, batch_size=args["batch"], epochs=args["epochs"], verbose=0)
    seconds = time.perf_counter() - started
    device = "cpu"
    if keras.backend.backend() == "jax":
        import jax
        device = str(jax.devices()[0].device_kind)
    print("RESULT " + json.dumps({"rate": len(x) * args["epochs"] / seconds, "mixed": mixed,
                                  "backend": keras.backend.backend(), "device": device}))
    """
)


def measure(data: str, images: int, epochs: int, batch: int, mixed: bool) -> dict:
    args = {"data": data, "images": images, "epochs": epochs, "batch": batch, "mixed": mixed}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, cwd=ROOT
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"batch {batch}, mixed={mixed} failed:\n{done.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "digit-recognizer"))
    parser.add_argument("--images", type=int, default=42_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args()
    rows, base, info = [], None, None
    for batch in (64, 256):
        for mixed in (False, True):
            result = measure(args.data, args.images, args.epochs, batch, mixed)
            info = info or result
            base = base or result["rate"]
            precision = "mixed float16" if mixed else "float32"
            rows.append(
                f"| {batch} | {precision} | {result['rate']:,.0f} | {result['rate'] / base:.2f}x |"
            )
    text = "\n".join(
        [
            "## v5 training throughput on the GPU",
            "",
            f"Command: `KERAS_BACKEND={info['backend']} python bench/gpu.py --images "
            f"{args.images} --epochs {args.epochs}` on {info['device']} ({info['backend']}); v5 "
            "with the seed's augmentation, timed epochs after a warm-up.",
            "",
            "| batch | precision | images/s | vs batch 64 float32 |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
