#!/bin/bash
# RSS of the attach daemon (SPEC: the user side stays under 100 MB), as docs/performance.md reports it.
#   bench/memory.sh ready   RSS 1 s and 15 s after `attach -a` is ready, nothing activated
#   bench/memory.sh locks   one target, every category: ctl -a -P <locks workload> -k 1 -l -s 20 -r -S
#   bench/memory.sh storm   every thread (ctl -a -k 0) under stress-ng --fork 1 --pipe 1
# STDOUT=pipe: the daemon's NDJSON goes through a pipe to cat (default: /dev/null). ACTIVE=<s> (10).
# STACK=none|fp|dwarf: ctl's --stack (default: dwarf, ctl's own default).
# Prints RSS when ready, the activation's peak (VmHWM, reset once ready) and settled RSS (mean of the
# last 3 s), RSS 2 s after ctl -d, the daemon's CPU while active, per record delivered, and an RSS
# breakdown by mapping (/proc/PID/smaps): node's binary, the ring, the C heap, anonymous memory
# (V8's heap, glibc's thread arenas, large mallocs), other files.
set -eu
cd "$(dirname "$0")/.."
mode=${1:?usage: bench/memory.sh ready|locks|storm}
ACTIVE=${ACTIVE:-10}
pin=/sys/fs/bpf/procimage-memory-$$
log=$(mktemp)
if [ "${STDOUT:-}" = pipe ]; then exec 7> >(cat > /dev/null); else exec 7> /dev/null; fi
bin/procimage attach -a --json --pin-dir "$pin" >&7 2> "$log" &
daemon=$!
exec 7>&-
work=
cleanup() {
	# || true: under set -e a workload that has already exited would end the trap before ctl -f
	[ -z "$work" ] || kill "$work" 2> /dev/null || true
	bin/procimage ctl --pin-dir "$pin" -f > /dev/null 2>&1 || kill "$daemon" 2> /dev/null
	wait "$daemon" 2> /dev/null || true
	rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 100); do grep -q 'ready:' "$log" && break; sleep 0.1; done
grep -q 'ready:' "$log" || { cat "$log" >&2; exit 1; }

kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$daemon/status"; }
mb() { echo $(($1 / 1024)); }
ticks() { awk '{ print $14 + $15 }' "/proc/$daemon/stat"; }
breakdown() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / {
		n = $6
		if (n == "") k = "anon"; else if (n ~ /\/node$/) k = "node"; else if (n == "[heap]") k = "heap"
		else if (n ~ /bpf-map/) k = "ring"; else if (n ~ /^\[/) k = "other"; else k = "files"
	}
	/^Rss:/ { r[k] += $2 }
	END { printf "node %.1f | ring %.1f | heap %.1f | anon %.1f | files %.1f MB\n",
		r["node"] / 1024, r["ring"] / 1024, r["heap"] / 1024, r["anon"] / 1024, r["files"] / 1024 }' "/proc/$daemon/smaps"
}

sleep 1
ready=$(kb VmRSS)
if [ "$mode" = ready ]; then
	sleep 14
	echo "ready: $(mb "$ready") MB after 1 s, $(mb "$(kb VmRSS)") MB after 15 s: $(breakdown)"
	exit 0
fi
echo 5 > "/proc/$daemon/clear_refs" # VmHWM from here on: the activation's own peak
case $mode in
locks)
	build/workloads/locks mutex 4 100000000 50 > /dev/null &
	work=$!
	sleep 0.3
	bin/procimage ctl --pin-dir "$pin" -a -P "$work" -k 1 -l -s 20 -r -S --interval 0.5 --stack "${STACK:-dwarf}" > /dev/null ;;
storm)
	stress-ng --fork 1 --pipe 1 -t $((ACTIVE + 5)) > /dev/null 2>&1 &
	work=$!
	sleep 0.3
	bin/procimage ctl --pin-dir "$pin" -a -k 0 --interval 0.5 --stack "${STACK:-dwarf}" > /dev/null ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
t0=$(date +%s.%N) c0=$(ticks) samples=()
for _ in $(seq $((ACTIVE * 4))); do sleep 0.25; samples+=("$(kb VmRSS)"); done
t1=$(date +%s.%N) c1=$(ticks) peak=$(kb VmHWM) active=$(breakdown)
sum=0 n=0
last=$(( ${#samples[@]} > 12 ? ${#samples[@]} - 12 : 0 )) # the last 3 s (fewer with ACTIVE < 3)
for s in "${samples[@]:last}"; do sum=$((sum + s)) n=$((n + 1)); done
done_line=$(bin/procimage ctl --pin-dir "$pin" -d)
sleep 2
records=$(sed -E 's/.*: ([0-9]+) records, ([0-9]+) lost.*/\1/' <<< "$done_line")
lost=$(sed -E 's/.*: ([0-9]+) records, ([0-9]+) lost.*/\2/' <<< "$done_line")
hz=$(getconf CLK_TCK)
printf '%s: ready %d MB, active peak %d settled %d MB, after ctl -d %d MB; CPU %.1f%% of a core, %.1f us per record (%d records, %d lost)\n' \
	"$mode" "$(mb "$ready")" "$(mb "$peak")" "$(mb $((sum / n)))" "$(mb "$(kb VmRSS)")" \
	"$(awk "BEGIN { print ($c1 - $c0) * 100 / $hz / ($t1 - $t0) }")" "$(awk "BEGIN { print ($c1 - $c0) * 1e6 / $hz / $records }")" \
	"$records" "$lost"
echo "  active: $active"
