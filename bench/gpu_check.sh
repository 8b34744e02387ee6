#!/usr/bin/env bash
# The device check of a lent GPU, sized for a 15-minute lease (one call of at most 10 minutes):
#   1. the `full` profile as shipped, with its 10 % holdout (search_spaces/full.toml: 3 folds of
#      a 12,600-image subset, an 8-minute run budget on 37,800 images): its time per trial, the
#      whole run's wall time and the exported models' holdout accuracy;
#   2. bench/gpu.py in the time left: v5's training images/s, float32 vs mixed precision, batch
#      64 vs 256; 10 timed epochs: with 2, batch 256's timed part was under half a second and
#      two checks ranked float32 and mixed precision in opposite orders (results/benchmarks.md).
# Run on the device machine from the repo root (the source tree, not installed: the space is
# named by its path), after bench/gpu_prepare.sh here has filled .whl/ (Keras, keras-tuner and
# what they need that the machine's image lacks) and .gpudata/ (the competition data):
#   device run: bash bench/gpu_check.sh $OUT, carry [".whl", ".gpudata"]
set -uo pipefail
out=${1:?usage: bench/gpu_check.sh OUTDIR}
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
python3 -m pip install --quiet --no-index --no-deps .whl/*.whl 2>&1 | tail -3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
began=$(date +%s)
timeout 540 python3 -m tuner.cli run --data .gpudata --space search_spaces/full.toml --seed 0 \
    --results-dir /tmp/r --name full-gpu 2>&1 | tee "$out/full.log"
echo "full profile: $(( $(date +%s) - began )) s" | tee -a "$out/device.txt"
cp /tmp/r/full-gpu/search.json "$out/" 2>/dev/null
python3 -m tuner.cli trials full-gpu --results-dir /tmp/r > "$out/trials.txt" 2>&1
left=$(( 590 - ($(date +%s) - began) ))
if (( left > 30 )); then
    start=$(date +%s)
    timeout "$left" python3 bench/gpu.py --data .gpudata --images 20480 --epochs 10 --no-write \
        2>&1 | tee "$out/gpu.log"
    echo "gpu.py: $(( $(date +%s) - start )) s" | tee -a "$out/device.txt"
fi
exit 0
