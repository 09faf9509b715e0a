#!/usr/bin/env bash
# The prepared GPU slot: the commands a session with a lent GPU runs as they are, from the checkout's root, with
# .gpu/ carried (wheels, CIFAR-10 packed, the paper's run folders). Every step runs under `timeout`, within a device
# command's 10 minutes with its setup (about 30 s); the whole output goes to $OUT/slot.log, results beside it (at
# most 8 files come back). bench/README.md says when to run which.
#
#   bash bench/gpu_slot.sh prepare            # here, once: .gpu/ gets the wheels, CIFAR-10 and unpack_cifar.py
#   bash bench/gpu_slot.sh first-look         # on the GPU: bench/gpu_train.py --first-look, 6 min with the start
#   bash bench/gpu_slot.sh paper [SECONDS]    # on the GPU: start or continue the paper's nets (default 420 s), packed
#   bash bench/gpu_slot.sh rows NAME...       # on the GPU: chosen rows of bench/gpu_train.py within 500 s
#   bash bench/gpu_slot.sh keep DIR           # here, after a paper slot: what came back (DIR) into .gpu/paper, docs/
#
# Add --dry-run after the step to run its flow on this CPU (no wheels, no GPU, tiny synthetic data).
set -uo pipefail

STEP=${1:-first-look}
shift || true
DRY=""
if [ $# -gt 0 ] && [ "${*: -1}" = "--dry-run" ]; then DRY="--dry-run" && set -- "${@:1:$#-1}"; fi
OUT=${OUT:-$PWD/.gpu/out}
DATA_ROOT=/tmp/archgen-data          # the same path on every slot: each run folder's spec.toml names its data
DATA=$DATA_ROOT/cifar10
RUNS=/tmp/archgen-paper-cifar        # the paper's run folders while a slot trains them
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

say() { echo "== $(date -u +%H:%M:%S) $*"; }

die() { say "stopped: $*"; exit 1; }

setup() {
    say "setup: $($PYTHON -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"
    [ -n "$DRY" ] && return 0
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    # 1. what the GPU image lacks (shared/gpu/README.md: pydantic and its stack, tomli, tomli-w), from carried wheels
    $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .gpu/wheels/*.whl || die "the carried wheels did not install (bash bench/gpu_slot.sh prepare, carry .gpu)"
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    # 2. archgen installed: run folders read its version from its metadata; editable, so the checkout is the code
    if ! $PYTHON -m pip install -q --no-index --no-deps --no-build-isolation -e . >/tmp/archgen-install.log 2>&1; then
        version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)  # its metadata alone, then
        mkdir -p "/tmp/site/archgen-$version.dist-info"
        printf 'Metadata-Version: 2.1\nName: archgen\nVersion: %s\n' "$version" \
            >"/tmp/site/archgen-$version.dist-info/METADATA"
        export PYTHONPATH=$PWD:$PYTHONPATH
        say "pip install -e . failed ($(tail -n 1 /tmp/archgen-install.log)): archgen runs from the checkout"
    fi
    $PYTHON -c "import archgen.training" || die "archgen does not import"
    # 3. CIFAR-10 (shared/gpu/pack_cifar.py's blob, gzipped), unpacked where every slot finds it
    if [ ! -d "$DATA/train" ]; then
        gunzip -c .gpu/cifar.bin.gz >/tmp/cifar.bin && cp .gpu/cifar.json.gz /tmp/cifar.json.gz &&
            $PYTHON .gpu/unpack_cifar.py /tmp/cifar "$DATA_ROOT" || die "CIFAR-10 did not unpack"
    fi
}

step() {  # step SECONDS COMMAND...: the command under timeout (SIGTERM, then SIGKILL 20 s later)
    local seconds=$1
    shift
    say "$* (at most $seconds s)"
    timeout -k 20 "$seconds" "$@"
    local code=$?
    say "exit $code"
    return $code
}

prepare() {  # here, on the machine with ../shared and pip's index
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
    mkdir -p .gpu/wheels .gpu/paper
    rm -f .gpu/wheels/*.whl  # one version of each: two would stop the whole install
    local wanted=() name
    # typing-extensions too: pydantic 2.14 needs 4.16 or newer, which the image may predate
    for name in pydantic pydantic-core annotated-types typing-inspection typing-extensions tomli tomli-w; do
        wanted+=("$name==$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$name'))")")
    done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .gpu/wheels "${wanted[@]}" || die "pip download failed"
    if [ ! -f .gpu/cifar.bin.gz ]; then  # the JPEGs' identical headers gzip away: 55 MB becomes 18 MB
        python3 ../shared/gpu/pack_cifar.py .gpu/cifar ../shared/data/cifar10-jpeg-*.zip && gzip -f .gpu/cifar.bin
    fi
    cp ../shared/gpu/unpack_cifar.py .gpu/
    du -sh .gpu/* .gpu
}

keep() {  # here: the files a paper slot sent back (the device tool's files_at) kept for the next slot
    local from=${1:?keep DIR: the folder where a paper slot sent its files back}
    cp "$from"/*.tar.gz .gpu/paper/ && say "kept $(ls "$from"/*.tar.gz | wc -l) run folders in .gpu/paper"
    if [ -f "$from/paper-cifar.md" ]; then
        cp "$from/paper-cifar.md" docs/paper-cifar.md && cp "$from/img/paper-cifar.png" docs/img/paper-cifar.png
        say "the page is finished: docs/paper-cifar.md and docs/img/paper-cifar.png"
    fi
}

slot() {  # on the GPU: the setup, then the step
    setup
    local data=(--data "$DATA")
    [ -n "$DRY" ] && data=()  # a dry run makes its own data
    case $STEP in
    first-look)
        step 330 $PYTHON bench/gpu_train.py --first-look $DRY "${data[@]}" --budget 300 --json "$OUT/first-look.json" ;;
    rows)
        step 540 $PYTHON bench/gpu_train.py $DRY --rows "$@" --budget 500 --json "$OUT/rows.json" ;;
    paper)
        local budget=${1:-420} code
        if compgen -G ".gpu/paper/*.tar.gz" >/dev/null; then
            $PYTHON scripts/paper_cifar.py --out "$RUNS" --unpack .gpu/paper || die "the carried run folders did not unpack"
        fi
        step $((budget + 120)) $PYTHON scripts/paper_cifar.py $DRY "${data[@]}" --out "$RUNS" --budget "$budget" \
            --page "$OUT/paper-cifar.md"
        code=$?
        $PYTHON scripts/paper_cifar.py --out "$RUNS" --pack "$OUT"  # even after a failure: the slot's checkpoints
        return $code ;;
    esac
}

case $STEP in
prepare) prepare ;;
keep) keep "$@" ;;
first-look | paper | rows)
    mkdir -p "$OUT"
    slot "$@" 2>&1 | tee -a "$OUT/slot.log"
    exit "${PIPESTATUS[0]}" ;;
*) die "unknown step '$STEP': prepare, first-look, paper [SECONDS], rows NAME..., keep DIR" ;;
esac
