#!/usr/bin/env bash
# One version per prefix against all versions in one prefix: for each series directory (files
# oldest first) every file is uploaded with one process per file into a local store, once as
# `one/<series>/<file>` and once as `rel/<series>/<version>/<file>` (the version read from the
# file name), in both formats, with the default reference scope (siblings) and with
# `--reference-scope prefix` (every DeltaGlider before dg). Prints stored/original per layout
# (every object of the bucket: files, references, layers, markers),
# the time of the uploads and of downloading every file back (each checked byte-identical).
#
#   bench/prefixes.sh SERIES_DIR...       e.g. bench/prefixes.sh target/corpus/{pip,botocore}
#
# Environment: DG (dg binary; default: a release build of this checkout), DG_BENCH_DIR (work
# directory; default a fresh one under /tmp).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { sed -n 2,11p "$0"; exit 2; }
if [ -z "${DG:-}" ]; then
  cargo build --release -q -p dg-cli --manifest-path "$root/Cargo.toml"
  DG="$root/target/release/dg"
fi
work=${DG_BENCH_DIR:-$(mktemp -d /tmp/dg-prefixes.XXXXXX)}
mkdir -p "$work"
now() { date +%s.%N; }
version_of() { # pip-24.1.1-py3-none-any.whl -> 24.1.1; tokio-1.41.0.crate -> 1.41.0
  basename "$1" | grep -oE '[0-9]+(\.[0-9]+)+' | head -n 1
}

printf '%-12s %-7s %-8s %-9s %9s %7s %7s %s\n' series format scope layout original stored up_s down_s
for dir in "$@"; do
  series=$(basename "$dir")
  files=$(ls "$dir" | sort -V)
  original=0
  for f in $files; do original=$((original + $(stat -c %s "$dir/$f"))); done
  for format in native compat; do
    for scope in siblings prefix; do
      for layout in one rel; do
        store="$work/$series-$format-$scope-$layout"
        rm -rf "$store" && mkdir -p "$store"
        export AWS_ENDPOINT_URL="file://$store"
        "$DG" mb s3://bench >/dev/null
        t0=$(now)
        for f in $files; do
          if [ $layout = one ]; then key="one/$series/$f"; else key="rel/$series/$(version_of "$f")/$f"; fi
          "$DG" cp -q --format $format --reference-scope $scope "$dir/$f" "s3://bench/$key"
        done
        t1=$(now)
        out="$store.out"
        rm -rf "$out" && mkdir -p "$out"
        for f in $files; do
          if [ $layout = one ]; then key="one/$series/$f"; else key="rel/$series/$(version_of "$f")/$f"; fi
          "$DG" cp -q "s3://bench/$key" "$out/$f"
          cmp -s "$out/$f" "$dir/$f" || { echo "prefixes: $key came back different" >&2; exit 1; }
        done
        t2=$(now)
        # every object: files, references, layers (.deltaglider/layers/), markers (empty)
        stored=$(find "$store/bench" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
        printf '%-12s %-7s %-8s %-9s %9d %6.1f%% %7.1f %7.1f\n' "$series" $format $scope $layout \
          $original "$(echo "100 * $stored / $original" | bc -l)" \
          "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)"
        rm -rf "$out"
      done
    done
  done
done
