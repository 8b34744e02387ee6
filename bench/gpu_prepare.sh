#!/usr/bin/env bash
# What bench/gpu_check.sh needs on the device machine, filled here: that machine's image has JAX,
# NumPy, pandas, scikit-learn, rich, typer, six and TensorBoard but not Keras or keras-tuner, and
# it fetches nothing. .whl/: Keras, keras-tuner and the wheels they need beyond the image, for its
# Python 3.12; .gpudata/: the competition's two files. Both are ignored by git and travel only as
# the device call's carry:
#   bash bench/gpu_prepare.sh
#   device run: bash bench/gpu_check.sh $OUT, carry [".whl", ".gpudata"]
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl .gpudata
mkdir -p .whl .gpudata
python3 -m pip download --quiet --no-deps --dest .whl --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 keras keras-tuner kt-legacy namex optree
cp ../shared/data/digit-recognizer/train.csv.gz ../shared/data/digit-recognizer/test.csv.gz .gpudata/
ls -l .whl .gpudata
