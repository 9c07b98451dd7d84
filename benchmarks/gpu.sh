#!/usr/bin/env bash
# The GPU benchmark of BENCHMARKS.md as one prepared run: the Qwen2.5-VL-7B architecture with
# random bf16 weights (built from its published config, nothing downloaded), the paper's eager
# route against this project's attribution at 448² to 2548² (8281 image tokens), batched
# throughput against the GPU's own bf16 matmul, and the augment pipeline; it writes its
# section of BENCHMARKS.md. Meant to finish in under 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu.sh                    on a GPU machine: updates BENCHMARKS.md
#   bash benchmarks/gpu.sh --dry-run [FILE]   the same steps on the CPU with the tiny model,
#                                             writing into FILE (default: a scratch file)
#
# PYTHON picks the interpreter (default: python); OUTPUT the file a GPU run updates.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

if [ "${1:-}" = "--dry-run" ]; then
    output="${2:-$(mktemp -d)/BENCHMARKS.md}"
    [ -f "$output" ] || printf '# Benchmarks (gpu.sh dry run)\n' > "$output"
    OMP_NUM_THREADS=1 "$PYTHON" benchmarks/attribution_bench.py \
        --arch tiny --sizes 448 --repeats 1 --warmup 0 --device cpu --output "$output"
    echo "gpu.sh --dry-run: wrote $output"
    exit 0
fi

if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu.sh: no CUDA device here; 'bash benchmarks/gpu.sh --dry-run' checks the script" >&2
    exit 1
fi
"$PYTHON" -c "import torch; print('gpu.sh on', torch.cuda.get_device_name(0))"
"$PYTHON" benchmarks/attribution_bench.py \
    --arch qwen2.5-vl-7b --sizes 448,896,1344,1792,2240,2548 --repeats 3 --warmup 1 \
    --device cuda --output "${OUTPUT:-BENCHMARKS.md}"
