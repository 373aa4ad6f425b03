#!/usr/bin/env bash
# Multi-node AU-GAN training under SLURM: one torchrun per node, joined by the c10d rendezvous.
#   sbatch scripts/slurm_train.sh            (from the repository root, after bash install.sh)
# Five minutes before the time limit SLURM sends this script SIGUSR1 (--signal): it passes it on
# as SIGTERM, training finishes the iteration in flight on every process, saves `latest` there and
# stops, and the script requeues the job, which goes on from that save (--continue_train) exactly
# as if it had never stopped. A cancelled or preempted job (SIGTERM) saves the same way; one killed
# outright (SIGKILL, a node's failure) goes on from its last periodic save (--save_latest_freq).
# docs/training.md, "When a run stops".
# Knobs (environment): NAME, DATAROOT, CHECKPOINTS, VENV, GPUS_PER_NODE, BATCH, PORT; extra
# arguments go to train.py (they override the defaults below).
#SBATCH --job-name=augan
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --signal=B:USR1@300
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

# A signal for this script goes to training as SIGTERM, which srun and every torchrun pass on
# (training saves and stops: util/stopping.py); SIGUSR1, the time limit's, also requeues the job
# once training has stopped.
requeue=0
pass_on() {
    if [ "$1" = USR1 ]; then requeue=1; fi
    echo "[slurm_train] SIG$1: training saves after the iteration in flight and stops"
    kill -TERM "${training:-}" 2>/dev/null || true  # (not started yet: nothing to save)
}
trap 'pass_on USR1' USR1
trap 'pass_on TERM' TERM

# torchrun leaves its processes 4 minutes to save before it kills them (30 s in PyTorch versions
# that do not read this variable).
export TORCH_ELASTIC_SHUTDOWN_TIMEOUT="${TORCH_ELASTIC_SHUTDOWN_TIMEOUT:-240}"
srun --kill-on-bad-exit=1 "$VENV/bin/torchrun" \
    --nnodes="$SLURM_NNODES" --nproc_per_node="$GPUS_PER_NODE" \
    --rdzv_backend=c10d --rdzv_endpoint="$head_node:$PORT" --rdzv_id="$SLURM_JOB_ID" \
    train.py --dataroot "$DATAROOT" --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --model au_gan \
    --load_size 512 --crop_size 512 --preprocess scale_height_and_crop \
    --netD ms3 --norm none --lr 0.0001 --n_epochs 10 --n_epochs_decay 10 \
    --batch_size "$BATCH" --num_threads "$((SLURM_CPUS_PER_TASK * SLURM_NNODES))" \
    "${resume[@]}" "$@" &
training=$!
status=0
wait "$training" || status=$?
while [ "$status" -gt 128 ] && kill -0 "$training" 2>/dev/null; do  # a signal ended the wait, not training
    status=0
    wait "$training" || status=$?
done
if [ "$requeue" = 1 ] && [ "$status" -ne 0 ]; then
    echo "[slurm_train] requeueing job $SLURM_JOB_ID: it goes on from the save just made"
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
