#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-chart.sh: draws a benchmark's results as a PNG bar chart with
# gnuplot (installed from Debian when missing).
#
#   scripts/bench-chart.sh DATA OUT.png TITLE YLABEL
#
# DATA is a whitespace-separated table: a header line "test SYS1 SYS2 ...",
# then one line per test: a label without spaces (use _) and one number per
# system, or "-" where there is none. Each test becomes a group of bars,
# one per system. The benchmarks (bench.sh, bench-cluster.sh) write DATA
# next to their results and call this script at the end.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 DATA OUT.png TITLE YLABEL" >&2; exit 2; }
DATA=$1 OUT=$2 TITLE=$3 YLABEL=$4
[ -s "$DATA" ] || { echo "bench-chart.sh: $DATA is empty" >&2; exit 1; }
if ! command -v gnuplot >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends gnuplot-nox; } >/dev/null 2>&1 ||
        { echo "bench-chart.sh: cannot install gnuplot-nox" >&2; exit 1; }
fi
ncols=$(head -1 "$DATA" | awk '{ print NF }')
gnuplot <<GP
set terminal png size 1200,560 font ",10"
set output "$OUT"
set title "$TITLE"
set ylabel "$YLABEL"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "-"
set key top right
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set xtics rotate by -25 left noenhanced
plot for [i=2:$ncols] "$DATA" using i:xtic(1) title columnheader(i)
GP
echo "chart: $OUT"
