#!/usr/bin/env bash
# The first thing a session with a GPU runs: is the CUDA build sound, do the CUDA paths work, and
# how fast and how big is a training step on this GPU. Writes, under OUT_DIR (default gpu_check/):
#   cuda_build.log         torch/CUDA/cuDNN/NCCL versions, the GPU, its memory, bf16 support
#   cuda_tests.log         pytest -m cuda: fp16 + GradScaler, bf16, fused Adam skipping a NaN step
#                          on the device, NCCL with one process, --compile (inductor),
#                          cudnn.benchmark, channels_last, checkpointing's memory on the device
#   benchmark_<model>.*    benchmarks/benchmark.py --compare at GPU_CHECK_SIZE (amp off/bf16/fp16,
#                          each without and with --checkpoint_activations, steps alternated)
#   memory_<model>.*       benchmarks/benchmark.py --memory_table at GPU_CHECK_PUBLISHED: counted
#                          bytes and real steps (max_memory_allocated, time) per checkpointing level
#   gpu_check.md, .json    all of it: Markdown tables ready for docs/performance.md, and JSON
# Every part runs under a time limit and the script goes on after a failure; it exits 1 if any failed.
#
#   bash scripts/gpu_check.sh [OUT_DIR]
# Environment: PYTHON (default .venv/bin/python, else python), GPU_CHECK_DEVICE (--gpu_ids, default
# 0; -1 runs the CPU-safe parts on the CPU, which is how the test suite checks this script),
# GPU_CHECK_MODELS ("au_gan fork_gan cycle_gan"), GPU_CHECK_SIZE (256x512), GPU_CHECK_PUBLISHED
# (512x1024), GPU_CHECK_STEPS (5), GPU_CHECK_ARGS (more benchmark flags), GPU_CHECK_LIMIT (seconds
# per part, 300).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-gpu_check}
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
DEVICE=${GPU_CHECK_DEVICE:-0}
MODELS=${GPU_CHECK_MODELS:-au_gan fork_gan cycle_gan}
SIZE=${GPU_CHECK_SIZE:-256x512}
PUBLISHED=${GPU_CHECK_PUBLISHED:-512x1024}
STEPS=${GPU_CHECK_STEPS:-5}
LIMIT=${GPU_CHECK_LIMIT:-300}
read -r -a EXTRA <<< "${GPU_CHECK_ARGS:-}"
mkdir -p "$OUT"
failed=()

part() {  # part NAME COMMAND...: run it under the time limit, its output to OUT/NAME.log
    local name=$1
    shift
    echo "== $name: $*"
    local start=$SECONDS
    timeout "$LIMIT" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then
        echo "   ok ($((SECONDS - start)) s)"
    else
        [ $rc -eq 124 ] && echo "   TIMED OUT after $LIMIT s" || echo "   FAILED (exit $rc)"
        tail -n 5 "$OUT/$name.log" | sed 's/^/   | /'
        failed+=("$name")
    fi
}

# 1. the CUDA build
part cuda_build "$PYTHON" - "$DEVICE" <<'EOF'
import sys
import torch
import torch.distributed as dist
print(f'torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, '
      f'NCCL {dist.is_nccl_available() and ".".join(map(str, torch.cuda.nccl.version()))}')
if not torch.cuda.is_available():
    print('no CUDA device: torch.cuda.is_available() is False')
    sys.exit(0 if sys.argv[1] == '-1' else 1)
props = torch.cuda.get_device_properties(0)
print(f'{torch.cuda.device_count()} GPU(s); 0: {props.name}, compute capability {props.major}.{props.minor}, '
      f'{props.total_memory / 2**30:.1f} GiB, bf16 {torch.cuda.is_bf16_supported(including_emulation=False)}')
x = torch.randn(1024, 1024, device='cuda')
torch.cuda.synchronize()
print('a matmul ran: max |x @ x - (x @ x on the CPU)| =', float(((x @ x).cpu() - x.cpu() @ x.cpu()).abs().max()))
EOF
if grep -q '^no CUDA device' "$OUT/cuda_build.log"; then
    [ "$DEVICE" = "-1" ] && echo "   no GPU: the CPU-safe parts only (GPU_CHECK_DEVICE=-1)" \
        || { echo "no CUDA device: run this on a machine with a GPU (or GPU_CHECK_DEVICE=-1 for the CPU-safe parts)"; exit 1; }
fi

# 2. the test suite's CUDA tests (they skip, saying why, without a GPU)
part cuda_tests "$PYTHON" -m pytest -q -rs -m cuda tests

# 3. speed and memory of each model at SIZE, and 4. memory and time at the published size
for model in $MODELS; do
    part "benchmark_$model" "$PYTHON" benchmarks/benchmark.py --model "$model" --crop_size "$SIZE" --compare \
        --compare_axes amp --checkpoint_cost --steps "$STEPS" --warmup 2 --gpu_ids "$DEVICE" \
        --checkpoints_dir "$OUT/checkpoints" --json_out "$OUT/benchmark_$model.json" \
        --markdown "$OUT/benchmark_$model.md" "${EXTRA[@]}"
    part "memory_$model" "$PYTHON" benchmarks/benchmark.py --model "$model" --memory_table --sizes "$PUBLISHED" \
        --table_amps off,bf16 --time_sizes "$PUBLISHED" --steps 3 --warmup 1 --gpu_ids "$DEVICE" \
        --checkpoints_dir "$OUT/checkpoints" --json_out "$OUT/memory_$model.json" \
        --markdown "$OUT/memory_$model.md" "${EXTRA[@]}"
done

# 5. one report
"$PYTHON" - "$OUT" "${failed[@]}" <<'EOF'
import json
import sys
from pathlib import Path
out, failed = Path(sys.argv[1]), sys.argv[2:]
build = (out / 'cuda_build.log').read_text().strip()
tests = (out / 'cuda_tests.log').read_text().strip().splitlines() if (out / 'cuda_tests.log').exists() else []
summary = tests[-1] if tests else 'not run'
report = {'environment': build.splitlines(), 'cuda_tests': summary, 'failed': failed, 'benchmark': {}, 'memory': {}}
md = ['# scripts/gpu_check.sh', '', '```', build, '```', '', f'CUDA tests: {summary}', '']
for kind, title in (('benchmark', 'Speed and memory (benchmark.py --compare --checkpoint_cost)'),
                    ('memory', 'Memory and time at the published size (benchmark.py --memory_table)')):
    md += [f'## {title}', '']
    for path in sorted(out.glob(f'{kind}_*.json')):
        model = path.stem.split('_', 1)[1]
        report[kind][model] = json.loads(path.read_text())
        md += [(out / f'{path.stem}.md').read_text(), '']
md.append(f'Failed parts: {", ".join(failed)}' if failed else 'Every part passed.')
(out / 'gpu_check.json').write_text(json.dumps(report, indent=1) + '\n')
(out / 'gpu_check.md').write_text('\n'.join(md) + '\n')
print(f'wrote {out}/gpu_check.md and {out}/gpu_check.json')
EOF

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
echo "every part passed"
