#!/usr/bin/env bash
# Quick start, from a fresh clone: set up the environment, fetch the day/night photos, train a
# small AU-GAN briefly (a few minutes on a CPU), test it, and print where the result pages are.
# Training crops come from frames scaled to a height (not squashed to squares), so that the
# whole frames of the test see the same geometry.
#   bash scripts/quickstart.sh
# Knobs (environment): NAME, SIZE (crop, px), NGF, EPOCHS, DECAY_EPOCHS, MAX_IMAGES, NUM_TEST, VENV.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${VENV:-.venv}"
NAME="${NAME:-daynight_quickstart}"
SIZE="${SIZE:-128}"
NGF="${NGF:-16}"
EPOCHS="${EPOCHS:-2}"
DECAY_EPOCHS="${DECAY_EPOCHS:-1}"
MAX_IMAGES="${MAX_IMAGES:-120}"
NUM_TEST="${NUM_TEST:-20}"

VENV="$VENV" bash install.sh
bash datasets/download_dataset.sh daynight

# au_gan's defaults (transposed-conv upsampling, --lambda_identity 0.5): docs/results.md
net=(--model au_gan --ngf "$NGF" --ndf "$NGF")
echo "[quickstart] training '$NAME' at ${SIZE}px for $((EPOCHS + DECAY_EPOCHS)) epochs"
"$VENV/bin/python" train.py --dataroot ./datasets/daynight --name "$NAME" "${net[@]}" \
    --preprocess scale_height_and_crop --load_size $((SIZE * 9 / 8)) --crop_size "$SIZE" \
    --max_dataset_size "$MAX_IMAGES" \
    --n_epochs "$EPOCHS" --n_epochs_decay "$DECAY_EPOCHS" --save_epoch_freq 1 \
    --print_freq 20 --display_freq 40 --overwrite  # a rerun of the quick start starts over

echo "[quickstart] testing on full frames scaled to height $SIZE"
"$VENV/bin/python" test.py --dataroot ./datasets/daynight --name "$NAME" \
    --preprocess scale_height --load_size "$SIZE" --num_test "$NUM_TEST"

echo
echo "[quickstart] training page: $(pwd)/checkpoints/$NAME/web/index.html"
echo "[quickstart] results page:  $(pwd)/results/$NAME/test_latest/index.html"
