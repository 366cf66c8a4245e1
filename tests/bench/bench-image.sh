#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# image encrypt against a plain copy and against cryptsetup's offline encryption, on the same file
# (docs/performance.md, "image encrypt").  Not a timed test: `meson test --benchmark bench-image`.
#
# One RAW of BENCH_IMAGE_MB MiB (default 1024) from /dev/urandom, written once and kept in the page
# cache for every run, so that each contender reads it alike.  Each contender ends with its output on
# disk (cp and cryptsetup are followed by `sync FILE`; image encrypt fsyncs itself):
#   cp          cp RAW COPY && sync COPY
#   cvmseal     cvmseal image encrypt RAW IMG --unlock-key-file KEY --fast-kdf --sector-size 4096
#   cvmseal-kdf the same without --fast-kdf: keyslot 0 with libcryptsetup's argon2id (a fixed cost)
#   cryptsetup  cryptsetup reencrypt --encrypt --force-offline-reencrypt --reduce-device-size 32M on a
#               copy of RAW with 32 MiB appended (the copy is not timed), PBKDF2 1000 iterations,
#               4096-byte sectors
# BENCH_RUNS runs (default 3) of each, interleaved; the medians and the speed ratios to cp
# (time of cp / time of the contender: 1.0 is as fast as cp) are printed.  BENCH_DIR: where the files
# go (default /var/tmp: a disk, not a tmpfs).
set -u
set -o pipefail

: "${CVMSEAL:?CVMSEAL must point at the cvmseal binary}"
command -v cryptsetup >/dev/null || { echo "SKIP: cryptsetup is not installed" >&2; exit 77; }

MB=${BENCH_IMAGE_MB:-1024}
RUNS=${BENCH_RUNS:-3}
D=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cvmseal-bench-image.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT

head -c $((MB * 1048576)) /dev/urandom >"$D/raw" || exit 1
sync "$D/raw"
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$D/key"
cat "$D/raw" >/dev/null   # in the page cache for everyone

now() { date +%s.%N; }
# elapsed CMD...: runs CMD, prints its wall-clock seconds; exits on failure.
elapsed() {
        local s e
        s=$(now)
        "$@" >/dev/null 2>"$D/err" || { echo "FAIL: $* : $(cat "$D/err")" >&2; exit 1; }
        e=$(now)
        awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'
}

run_cp() { cp "$D/raw" "$D/copy" && sync "$D/copy"; }
run_cvmseal() { "$CVMSEAL" image encrypt "$D/raw" "$D/img" --unlock-key-file "$D/key" --fast-kdf --sector-size 4096; }
run_cvmseal_kdf() { "$CVMSEAL" image encrypt "$D/raw" "$D/img" --unlock-key-file "$D/key" --sector-size 4096; }
run_cryptsetup() {
        cryptsetup reencrypt --encrypt --type luks2 --force-offline-reencrypt --reduce-device-size 32M \
                --sector-size 4096 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$D/key" \
                --batch-mode "$D/cs" && sync "$D/cs"
}

declare -A times
for run in $(seq 1 "$RUNS"); do
        rm -f "$D/copy"; sync
        times[cp]+="$(elapsed run_cp) "
        rm -f "$D/copy" "$D/img"; sync
        times[cvmseal]+="$(elapsed run_cvmseal) "
        rm -f "$D/img"; sync
        times[cvmseal-kdf]+="$(elapsed run_cvmseal_kdf) "
        rm -f "$D/img"
        cp "$D/raw" "$D/cs" && truncate -s +32M "$D/cs" && sync "$D/cs"
        times[cryptsetup]+="$(elapsed run_cryptsetup) "
        rm -f "$D/cs"; sync
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "image encrypt benchmark: $MB MiB, median of $RUNS runs ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-12s %9s %9s %10s   %s\n' contender "median s" "MiB/s" "vs cp" "runs (s)"
base=$(median "${times[cp]}")
for c in cp cvmseal cvmseal-kdf cryptsetup; do
        m=$(median "${times[$c]}")
        printf '%-12s %9.2f %9.0f %10.2f   %s\n' "$c" "$m" "$(awk -v a="$MB" -v b="$m" 'BEGIN { print a / b }')" "$(awk -v a="$base" -v b="$m" 'BEGIN { print a / b }')" "${times[$c]}"
done
