#!/usr/bin/env bash
# Build the one-folder app from build.spec with PyInstaller, then run the frozen self-test offscreen.
#
#   scripts/build_bundle.sh            full (release) build: dist/DeCLIP Desktop/
#   scripts/build_bundle.sh --fast     CI fast mode (DECLIP_BUNDLE_FAST=1): the same spec and analysis,
#                                      minus the CUDA libraries torch only dlopen()s on a GPU
#
# Environment: DIST (default dist), WORK (default build/pyinstaller), PYTHON (default .venv/bin/python
# if present, else python3), NICE (e.g. "nice -n 10"), DECLIP_EMBEDDED_MODEL (see build.spec).
# Prints the build time and the bundle size; exits non-zero if the build, a bundle check or the
# frozen `declip-desktop --self-test` fails. Linux (bash); on Windows see docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=full
for arg in "$@"; do
    case "$arg" in
        --fast) MODE=fast ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "build_bundle.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done
[ "${DECLIP_BUNDLE_FAST:-}" = 1 ] && MODE=fast
if [ "$MODE" = fast ]; then export DECLIP_BUNDLE_FAST=1; else export DECLIP_BUNDLE_FAST=0; fi

DIST=${DIST:-dist}
WORK=${WORK:-build/pyinstaller}
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
APP="$DIST/DeCLIP Desktop"
EXE="$APP/declip-desktop"

echo "== build_bundle: $MODE build from build.spec -> $APP ($("$PYTHON" -m PyInstaller --version 2>/dev/null || echo 'PyInstaller missing'))"
t0=$(date +%s)
# shellcheck disable=SC2086
${NICE:-} "$PYTHON" -m PyInstaller build.spec --noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK"
t1=$(date +%s)
BUILD_S=$((t1 - t0))

fail() { echo "build_bundle: FAIL: $*" >&2; exit 1; }
[ -x "$EXE" ] || fail "no executable at $EXE"
INTERNAL="$APP/_internal"
[ -x "$INTERNAL/torch/bin/torch_shm_manager" ] || fail "torch/bin/torch_shm_manager missing or not executable"
[ -f "$INTERNAL/resources/models/declip-lite2-default/card.json" ] || fail "embedded model missing"
ls "$INTERNAL"/c2pa/libs/libc2pa_c.* >/dev/null 2>&1 || fail "C2PA native library (c2pa/libs/libc2pa_c.*) missing"
[ -d "$INTERNAL/tests" ] && fail "tests/ was bundled"
[ -d "$INTERNAL/triton" ] && fail "triton was bundled"
ls "$INTERNAL"/PySide6/Qt/plugins/platforms/libqoffscreen.so >/dev/null 2>&1 || fail "Qt offscreen platform plugin missing"
ls "$INTERNAL"/PySide6/Qt/plugins/platforms/libqxcb.so >/dev/null 2>&1 || fail "Qt xcb platform plugin missing"

SIZE=$(du -sh "$APP" | cut -f1)
echo "== build_bundle: built in ${BUILD_S} s ($((BUILD_S / 60)) min $((BUILD_S % 60)) s), bundle size $SIZE ($MODE)"
if [ -d "$INTERNAL/nvidia" ]; then
    echo "   of which CUDA libraries (nvidia/): $(du -sh "$INTERNAL/nvidia" | cut -f1), torch/: $(du -sh "$INTERNAL/torch" | cut -f1)"
fi

echo "== build_bundle: frozen self-test (offscreen)"
t2=$(date +%s)
set +e
env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=offscreen timeout 900 "$EXE" --self-test
RC=$?
set -e
t3=$(date +%s)
echo "== build_bundle: self-test exit $RC in $((t3 - t2)) s; build ${BUILD_S} s; size $SIZE ($MODE)"
[ "$RC" = 0 ] || fail "frozen self-test failed (exit $RC)"
echo "== build_bundle: OK"
