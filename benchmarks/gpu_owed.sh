#!/usr/bin/env bash
# The GPU checks still owed (issues 5, 7, 8), each sized for ONE call on the lent GPU machine
# (at most 10 min per call, 15 min per session including the machine's start): run the first
# part still owed, copy $OUT back, put the figures in docs/performance.md with the card's name.
#
#   bash benchmarks/gpu_owed.sh classifier  # issue 5: `paper` recipe, 1,261 phantom training images, both views
#   bash benchmarks/gpu_owed.sh predict     # issue 8: batch prediction from uncompressed DICOM and 16-bit PNG
#   bash benchmarks/gpu_owed.sh study       # issue 8: configs/paper.yaml end to end; stages are cached, so a
#                                           # second call on the same (warm) machine continues where it stopped
#
# The device machine lacks some wheels: keep monai/pydicom/nibabel wheels in .whl/ (git-ignored)
# and pass carry [".whl"]; they are installed into /tmp/site here. Results go to $OUT (default /tmp/out).
set -euo pipefail
part="${1:?usage: gpu_owed.sh classifier|predict|study}"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
if ! python3 -c "import monai, pydicom" 2>/dev/null; then
    python3 -m pip install -q --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
sij() { python3 -m sijscan.cli.main "$@"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
case "$part" in
classifier)
    data=/tmp/proof1483
    t0=$(date +%s)
    [ -f "$data/manifest.csv" ] || sij simulate --cohort proof --n 1483 --seed 11 --size 2048 --workers 16 --out "$data"
    t1=$(date +%s)
    for view in sij full; do
        s=$(date +%s)
        sij train-classifier --manifest "$data/manifest.csv" --view "$view" $([ "$view" = sij ] && echo --crop-from-mask) \
            --recipe paper --init random --accelerator gpu --out "$OUT/clf-$view" 2>&1 | tail -n 20
        echo "{\"view\": \"$view\", \"wall_s\": $(( $(date +%s) - s ))}" >> "$OUT/classifier_walls.jsonl"
    done
    echo "{\"simulate_s\": $(( t1 - t0 ))}" >> "$OUT/classifier_walls.jsonl"
    rm -f "$OUT"/clf-*/weights.safetensors "$OUT"/clf-*/checkpoints/* 2>/dev/null || true  # keep the cards, not the weights
    ;;
predict)
    seg=""; [ -d models/seg-default-cpu600 ] && seg="--segmenter models/seg-default-cpu600"
    python3 benchmarks/bench_batch_predict.py --n 512 --render 32 $seg | tee "$OUT/bench_batch_predict.json"
    python3 benchmarks/bench_predict.py --device cuda --n 8 | tee "$OUT/bench_predict_cuda.json"
    ;;
study)
    sij study configs/paper.yaml --out /tmp/paper-study 2>&1 | tail -n 40
    cp -r /tmp/paper-study/report "$OUT/" 2>/dev/null || true
    ;;
*)
    echo "unknown part: $part (classifier, predict or study)" >&2; exit 2 ;;
esac
