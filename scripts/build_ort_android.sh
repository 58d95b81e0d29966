#!/usr/bin/env bash
# Build ONNX Runtime's onnxruntime_perf_test and libonnxruntime.so for an Android arm64 phone,
# the two files `mnas-pred profile-device --serial X --perf-test ... --ort-lib ...` pushes.
#
# UNTESTED HERE: this project's machines have no Android NDK; the steps follow ONNX Runtime's
# "Build for Android" page (https://onnxruntime.ai/docs/build/android.html). Expect about an hour
# on a laptop and ~20 GB of disk. If you only want *a* phone runtime, LiteRT's prebuilt
# benchmark_model needs no build at all (README, "Profile an Android phone").
#
# Needs: git, cmake >= 3.28, ninja, python3, a JDK (17), the Android SDK with an NDK (r26+).
# Usage:
#   ANDROID_SDK_ROOT=~/Android/Sdk ANDROID_NDK_ROOT=~/Android/Sdk/ndk/27.0.12077973 \
#     scripts/build_ort_android.sh [ORT_VERSION] [OUT_DIR]
# Then:
#   mnas-pred profile-device --serial SERIAL --perf-test OUT_DIR/onnxruntime_perf_test \
#     --ort-lib OUT_DIR/libonnxruntime.so
set -euo pipefail

ORT_VERSION="${1:-v1.22.2}"
OUT_DIR="$(realpath -m "${2:-android-ort}")"
API_LEVEL="${ANDROID_API:-29}"
ABI="${ANDROID_ABI:-arm64-v8a}"
: "${ANDROID_SDK_ROOT:?set ANDROID_SDK_ROOT to the Android SDK folder (the one holding platform-tools/)}"
: "${ANDROID_NDK_ROOT:?set ANDROID_NDK_ROOT to an NDK folder, e.g. \$ANDROID_SDK_ROOT/ndk/<version>}"
for tool in git cmake ninja python3; do
  command -v "$tool" >/dev/null || { echo "build_ort_android.sh: $tool is not installed" >&2; exit 2; }
done

SRC="${ORT_SRC:-$OUT_DIR/onnxruntime-src}"
if [ ! -d "$SRC/.git" ]; then
  git clone --recursive --depth 1 --branch "$ORT_VERSION" https://github.com/microsoft/onnxruntime.git "$SRC"
fi

# --build_shared_lib gives libonnxruntime.so; the perf tool is one of the test programs, so tests
# are built (not run: --skip_tests). Release, the CPU execution provider only.
(cd "$SRC" && ./build.sh \
  --config Release --parallel --skip_tests --build_shared_lib --cmake_generator Ninja \
  --android --android_sdk_path "$ANDROID_SDK_ROOT" --android_ndk_path "$ANDROID_NDK_ROOT" \
  --android_abi "$ABI" --android_api "$API_LEVEL" \
  --build_dir "$OUT_DIR/build")

BUILT="$OUT_DIR/build/Release"
mkdir -p "$OUT_DIR"
cp "$BUILT/onnxruntime_perf_test" "$BUILT/libonnxruntime.so" "$OUT_DIR/"
echo "built: $OUT_DIR/onnxruntime_perf_test and $OUT_DIR/libonnxruntime.so ($ABI, API $API_LEVEL)"
echo "next:  mnas-pred profile-device --serial SERIAL --perf-test $OUT_DIR/onnxruntime_perf_test --ort-lib $OUT_DIR/libonnxruntime.so"
