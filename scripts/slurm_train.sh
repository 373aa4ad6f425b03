#!/usr/bin/env bash
# Multi-node AU-GAN training under SLURM: one torchrun per node, joined by the c10d rendezvous.
#   sbatch scripts/slurm_train.sh            (from the repository root, after bash install.sh)
# A requeued or resubmitted job continues exactly from the run's latest checkpoint.
# Knobs (environment): NAME, DATAROOT, CHECKPOINTS, VENV, GPUS_PER_NODE, BATCH, PORT; extra
# arguments go to train.py (they override the defaults below).
#SBATCH --job-name=augan
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail

NAME="${NAME:-bdd_augan}"
DATAROOT="${DATAROOT:-./datasets/bdd100k}"
CHECKPOINTS="${CHECKPOINTS:-./checkpoints}"
VENV="${VENV:-.venv}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
BATCH="${BATCH:-$((SLURM_NNODES * GPUS_PER_NODE))}"   # global, like --num_threads: 1 image per GPU
PORT="${PORT:-29500}"
head_node="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"

resume=()
if [ -f "$CHECKPOINTS/$NAME/latest_state.pth" ]; then
    resume=(--continue_train)
fi

srun --kill-on-bad-exit=1 "$VENV/bin/torchrun" \
    --nnodes="$SLURM_NNODES" --nproc_per_node="$GPUS_PER_NODE" \
    --rdzv_backend=c10d --rdzv_endpoint="$head_node:$PORT" --rdzv_id="$SLURM_JOB_ID" \
    train.py --dataroot "$DATAROOT" --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --model au_gan \
    --load_size 512 --crop_size 512 --preprocess scale_height_and_crop \
    --netD ms3 --norm none --lr 0.0001 --n_epochs 10 --n_epochs_decay 10 \
    --batch_size "$BATCH" --num_threads "$((SLURM_CPUS_PER_TASK * SLURM_NNODES))" \
    "${resume[@]}" "$@"
