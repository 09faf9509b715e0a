#!/usr/bin/env bash
# The degradation problem (He et al. 2016, Fig. 6) on scikit-learn's bundled 8x8 digits, on a CPU:
# plain-20, plain-56, ResNet-20 and ResNet-56, one recipe (archgen/specs/digits/*.toml), then
# `archgen compare` overlays their curves and prints the table.
#
#   scripts/degradation.sh [OUT]          # OUT defaults to runs/degradation-<time>
#   EPOCHS=2 scripts/degradation.sh       # every training shortened to 2 epochs (a quick look; docs tests)
#
# Two trainings run at a time with one thread each: these small nets gain little from a second
# thread, so two cores finish the four runs sooner this way. About 3.5 minutes on 2 cores
# (208 s measured on idle cores; docs/degradation.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/degradation-$(date +%Y%m%d-%H%M%S)}
plot=${PLOT:-$out/degradation.png}
mkdir -p "$out"
export OMP_NUM_THREADS=1

train() {  # train the given shipped specs one after the other, each into $out, logging to $out/<spec>.log
  for spec in "$@"; do
    archgen train "$spec" --out "$out" ${EPOCHS:+--epochs "$EPOCHS"} >"$out/$spec.log" 2>&1 || { echo "archgen train $spec failed:"; tail -n 5 "$out/$spec.log"; exit 1; }
    echo "trained $spec:$(grep -E "^ *(training|validation) error" "$out/$spec.log" | tr -s " " | tr "\n" ",")"
  done
}

start=$(date +%s)
train digits-plain56 digits-resnet20 &
first=$!
train digits-resnet56 digits-plain20 &
second=$!
wait "$first"
wait "$second"
echo "four runs in $(( $(date +%s) - start )) s"

archgen compare "$out"/digits-plain20-* "$out"/digits-plain56-* "$out"/digits-resnet20-* "$out"/digits-resnet56-* \
  --plot "$plot" --title "digits, ${EPOCHS:-100} epochs: plain nets degrade with depth, residual nets do not" --markdown \
  | tee "$out/degradation.md"
