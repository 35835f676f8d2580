#!/usr/bin/env bash
# bench/ocsp.sh: OCSP responses/s at C concurrent clients (default 64) from
# cmca's pre-signed store, against `openssl ocsp -index ... -multi 2` and a
# bare Go server answering from a map of pre-signed responses (the floor),
# all serving the same N certificates (half revoked) in the same run, with
# the load generator of ../shared/anchors/ocsp (run from there, not copied).
#
#   bash bench/ocsp.sh                  # N=10000 C=64 D=10s
#   N=1000 D=5s bash bench/ocsp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ANCHOR=${ANCHOR:-$(cd ../shared/anchors/ocsp && pwd)}
export N=${N:-10000}
C=${C:-64}
D=${D:-10s}
ROUNDS=${ROUNDS:-3}
WORK=$(mktemp -d /tmp/cmca-ocsp-bench.XXXXXX)
PIDS=()
cleanup() { # openssl -multi ignores SIGTERM and respawns workers: SIGKILL it, then its workers
	for p in "${PIDS[@]}"; do
		kids=$(pgrep -P "$p" || true)
		kill -9 "$p" $kids 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/bin" "$WORK/load"
go build -o "$WORK/bin/ocspserve" ./bench/ocspserve
(cd "$ANCHOR" && go build -o "$WORK/bin/ocspload" .)
(cd "$WORK" && bash "$ANCHOR/mk.sh")

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # port [host]
	for _ in $(seq 1 600); do
		if (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}
load() { # url: warm up 2s, then measure D
	(cd "$WORK/load" && "$WORK/bin/ocspload" -url "$1" -c "$C" -d 2s >/dev/null && "$WORK/bin/ocspload" -url "$1" -c "$C" -d "$D")
}
rate() { sed -n 's/.*rate=\([0-9]*\)\/s.*/\1/p' <<<"$1"; }

P_OSSL=$(port)
(cd "$WORK" && exec openssl ocsp -index index.txt -port "$P_OSSL" -rsigner ocsp.crt -rkey ocsp.key -CA ca.crt -multi 2 -nmin 60 >/dev/null 2>&1) &
PIDS+=($!)
P_FLOOR=$(port)
(cd "$WORK/load" && exec "$WORK/bin/ocspload" -serve "127.0.0.1:$P_FLOOR" 2>/dev/null) &
PIDS+=($!)
P_CMCA=$(port)
"$WORK/bin/ocspserve" -anchor "$WORK" -home "$WORK/home" -listen "127.0.0.1:$P_CMCA" >/dev/null &
PIDS+=($!)
wait_port "$P_OSSL" ::1; wait_port "$P_FLOOR"; wait_port "$P_CMCA"

echo "N=$N C=$C D=$D ROUNDS=$ROUNDS on $(nproc) cores; medians of rounds run in turn"
declare -a RO RF RC
for i in $(seq 1 "$ROUNDS"); do
	r=$(load "http://[::1]:$P_OSSL/"); echo "round $i openssl ocsp -multi 2: $r"; RO+=("$(rate "$r")") # openssl listens on [::]
	r=$(load "http://127.0.0.1:$P_FLOOR/"); echo "round $i Go floor (map):        $r"; RF+=("$(rate "$r")")
	r=$(load "http://127.0.0.1:$P_CMCA/ocsp"); echo "round $i cmca (pre-signed):     $r"; RC+=("$(rate "$r")")
done
python3 - "${RO[*]}" "${RF[*]}" "${RC[*]}" <<'PY'
import statistics, sys
o, f, c = (statistics.median(map(float, a.split())) for a in sys.argv[1:])
print(f"median responses/s: openssl {o:.0f}, floor {f:.0f}, cmca {c:.0f}")
print(f"cmca/openssl = {c/o:.2f}x (target >= 2.5x); cmca/floor = {100*c/f:.0f}% (target >= 80%)")
PY
