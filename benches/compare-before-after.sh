#!/bin/bash
# Interleaved before / after runs of the decide, compile-swap and record benchmarks, with the
# load average before each run. Build the bench binaries of both trees first
# (`cargo bench -p gray-benches --bench decide --bench reload --bench parts --no-run`) and copy
# them to /tmp/bench/{decide,reload}-{before,after} and /tmp/bench/parts-after.
cd "$(dirname "$0")"
for round in 1 2 3; do
  for side in before after; do
    echo "== round $round $side decide load $(cut -d' ' -f1-3 /proc/loadavg)"
    /tmp/bench/decide-$side --bench '^decide/' --noplot 2>&1 | grep -E 'time:|^decide' 
    echo "== round $round $side reload load $(cut -d' ' -f1-3 /proc/loadavg)"
    /tmp/bench/reload-$side --bench 'compile-swap/cidrs/(1000|100000)$' --noplot 2>&1 | grep -E 'time:|^compile'
  done
done
echo "== record load $(cut -d' ' -f1-3 /proc/loadavg)"
/tmp/bench/parts-after --bench '^record/' --noplot 2>&1 | grep -E 'time:|^record'
echo "== end load $(cut -d' ' -f1-3 /proc/loadavg)"
