#!/usr/bin/env bash
# bench/cpu.sh: server CPU per certificate at 64 clients, read from /proc
# (utime+stime of the server process over its life, start-up included),
# for cmca serve, step-ca v0.30.2 and the bare Go signer of
# ../shared/anchors/stepca, one after the other. docs/performance.md, "What
# bounds it". Run it on an otherwise idle machine.
#
#   STEPCA=/path/to/step-ca N=3000 RUNS=3 bash bench/cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/downloads.sh
N=${N:-3000}
RUNS=${RUNS:-3}
ANCHOR=${ANCHOR:-$(cd .. && pwd)/shared/anchors/stepca}
W=$(mktemp -d /tmp/cmca-cpu-bench.XXXXXX)
SPID= RP=
trap '[ -z "$SPID" ] || kill $SPID 2>/dev/null; [ -z "$RP" ] || kill $RP 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
umask 077
export CMCA_OPERATOR=bench
unset CMCA_HOME CMCA_CONFIG CMCA_SERVER
go build -o "$W/cmca" ./cmd/cmca
go build -o "$W/gen" ./bench/gen
go build -o "$W/serveload" ./bench/serveload
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

export CMCA_HOME=$W/home
"$W/cmca" init --ca-name "Bench CPU CA" --ca-org Bench --ca-country CN >/dev/null
total=$((N * RUNS))
prepare_downloads "$W" "$total" "$W/dl"
sync
skip=0
for r in $(seq "$RUNS"); do
	rm -f "$W/addr.json"
	"$W/cmca" serve --listen 127.0.0.1:0 --addr-file "$W/addr.json" 2>"$W/serve.log" &
	SPID=$!
	for _ in $(seq 100); do [ -s "$W/addr.json" ] && break; sleep 0.1; done
	addr=$(sed -n 's/.*"https":"\([^"]*\)".*/\1/p' "$W/addr.json")
	line=$("$W/serveload" -addr "$addr" -ca "$CMCA_HOME/ca/ca.crt" -jobs "$W/dl.csrs/batch.jsonl" -skip "$skip" -n "$N" -c 64)
	t=$(ticks "$SPID")
	kill -TERM "$SPID"
	wait "$SPID" || true
	SPID=
	skip=$((skip + N))
	echo "cmca serve run $r: $(awk -v t="$t" -v n="$N" -v hz="$hz" 'BEGIN {printf "%.3f ms server CPU per certificate", t * 1000 / hz / n}'); $line"
done

# step-ca and the floor: run the anchor and sample their CPU until it ends.
if [ -f "$ANCHOR/run.sh" ]; then
	bash "$ANCHOR/run.sh" "$N" 64 >"$W/anchor.out" 2>"$W/anchor.err" &
	RP=$!
	declare -A last name
	while kill -0 "$RP" 2>/dev/null; do
		for p in $(pgrep -f 'step-ca ca.json' || true) $(pgrep -f 'stepload -floor' || true); do
			if t=$(ticks "$p" 2>/dev/null); then
				last[$p]=$t
				name[$p]=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-30 || true)
			fi
		done
		sleep 0.2
	done
	RP=
	cat "$W/anchor.out"
	for p in "${!last[@]}"; do
		awk -v t="${last[$p]}" -v n="$N" -v hz="$hz" -v who="${name[$p]}" 'BEGIN {printf "%s: %.3f ms server CPU per request\n", who, t * 1000 / hz / n}'
	done
fi
