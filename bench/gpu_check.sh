#!/usr/bin/env bash
# The device check of a lent GPU, sized for a 15-minute lease (one call of at most 10 minutes):
#   1. bench/gpu.py: v5's training images/s, float32 vs mixed precision, batch 64 vs 256;
#      10 timed epochs: with 2, batch 256's timed part was under half a second and two checks
#      ranked float32 and mixed precision in opposite orders (results/benchmarks.md);
#   2. the `full` profile with a 10 % holdout, scaled down to fit (3 folds on a 12,600-image
#      search subset, a 4-minute search budget, 15 final epochs): its time per trial and the
#      exported model's holdout accuracy. The unscaled profile needs about 30 minutes.
# Run on the device machine from the repo root, with keras, keras-tuner and their pure-Python
# needs carried as wheels in .whl/ and the competition data copied to .gpudata/:
#   bash bench/gpu_check.sh OUTDIR
set -uo pipefail
out=${1:?usage: bench/gpu_check.sh OUTDIR}
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
start=$(date +%s)
timeout 170 python3 bench/gpu.py --data .gpudata --images 20480 --epochs 10 --no-write 2>&1 \
    | tee "$out/gpu.log"
echo "gpu.py: $(( $(date +%s) - start )) s" | tee -a "$out/device.txt"
start=$(date +%s)
timeout 400 python3 -m tuner.cli run --data .gpudata --space search_spaces/full.toml \
    --holdout 0.1 --seed 0 --folds 3 --search-images 12600 --time-budget 4 --trial-timeout 0 \
    --final-epochs 15 --results-dir /tmp/r --name full-gpu 2>&1 | tee "$out/full.log"
echo "full profile: $(( $(date +%s) - start )) s" | tee -a "$out/device.txt"
cp /tmp/r/full-gpu/search.json "$out/" 2>/dev/null
python3 -m tuner.cli trials full-gpu --results-dir /tmp/r > "$out/trials.txt" 2>&1
exit 0
