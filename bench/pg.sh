#!/usr/bin/env bash
# bench/pg.sh: remote download throughput of several `cmca serve` instances
# on one PostgreSQL database (issue 14, "Performance"). In one run: one
# instance on SQLite, then 1, 2 and 3 instances on one PostgreSQL database,
# each over HTTPS on loopback, driven by bench/serveload with its clients
# spread over the instances (reference number + passcode + a pre-made P-256
# CSR per download). The configurations alternate, ROUNDS times, and the
# medians are reported.
#
# PostgreSQL is a throwaway cluster made here (initdb and the server run as
# the postgres user when this runs as root; random port, socket in the work
# directory) with its durable defaults: fsync=on, synchronous_commit=on,
# full_page_writes=on, as SQLite runs synchronous=FULL. It is stopped on
# exit. pg_stat_statements counts the statements per download.
#
#   bash bench/pg.sh                       # N=2000 per pass, 64 clients, 3 rounds
#   N=1000 ROUNDS=1 KEEP=1 bash bench/pg.sh
#   CONFIGS="pg-3" SAMPLE=1 bash bench/pg.sh   # one configuration; sample lock waits
#
# Per configuration it measures the CPU time, over the load generator's run,
# of the cmca serve processes (/proc/PID/stat), of the PostgreSQL server (the
# postmaster, its live children and its reaped children), of the load
# generator (getrusage), and of the whole machine (/proc/stat), so that what
# bounds the rate is measured. Every server writes a CPU profile
# ($WORK/prof/CONFIG-rR-iI.pprof, kept with KEEP=1). Prints Markdown (also
# $WORK/results.md). Needs PostgreSQL's server programs (Debian:
# postgresql), psql, Go.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/downloads.sh
N=${N:-2000}
C=${C:-64}
ROUNDS=${ROUNDS:-3}
CONFIGS=${CONFIGS:-"sqlite-1 pg-1 pg-2 pg-3"}
SAMPLE=${SAMPLE:-0}
KEEP=${KEEP:-0}
WORK=${WORK:-$(mktemp -d /tmp/cmca-pg-bench.XXXXXX)}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -1)}
[ -x "$PGBIN/initdb" ] || PGBIN=$(dirname "$(command -v initdb)")
SPIDS=()
PGDATA=$WORK/pg/data
cleanup() {
	for p in "${SPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${SPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -f "$PGDATA/postmaster.pid" ]; then pgrun "$PGBIN/pg_ctl" stop -D "$PGDATA" -m fast -w >/dev/null 2>&1 || true; fi
	[ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
umask 077
export CMCA_OPERATOR=bench
unset CMCA_HOME CMCA_CONFIG CMCA_SERVER CMCA_STORE_URL
B=$WORK/bin
mkdir -p "$B" "$WORK/prof"
echo "building into $WORK" >&2
go build -o "$B/cmca" ./cmd/cmca
go build -o "$B/gen" ./bench/gen
go build -o "$B/serveload" ./bench/serveload

# The cluster. The server refuses to run as root: as root, initdb and the
# server run as the postgres user (as internal/pgtest does).
pgrun() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$WORK/pg"
chmod 755 "$WORK"
[ "$(id -u)" != 0 ] || chown postgres: "$WORK/pg"
echo bench-secret >"$WORK/pg/pw"
[ "$(id -u)" != 0 ] || chown postgres: "$WORK/pg/pw"
pgrun "$PGBIN/initdb" -D "$PGDATA" -U postgres --pwfile "$WORK/pg/pw" --auth-local=trust --auth-host=scram-sha-256 \
	-E UTF8 --locale=C >"$WORK/pg/initdb.log" 2>&1 || { cat "$WORK/pg/initdb.log" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Durable defaults (fsync, synchronous_commit, full_page_writes on); only
# where it listens, and pg_stat_statements to count statements.
pgrun "$PGBIN/pg_ctl" start -D "$PGDATA" -w -l "$WORK/pg/server.log" -o "-p $PORT -c listen_addresses=127.0.0.1 \
-c unix_socket_directories=$WORK/pg -c max_connections=200 -c shared_preload_libraries=pg_stat_statements" >/dev/null
PGPID=$(head -1 "$PGDATA/postmaster.pid")
psqlc() { psql -X -q -At -h "$WORK/pg" -p "$PORT" -U postgres "$@"; }
psqlc -d postgres -c 'CREATE DATABASE cmca TEMPLATE template0'
URL="postgres://postgres:bench-secret@127.0.0.1:$PORT/cmca?sslmode=disable"

# Two homes: SQLite (ROUNDS passes) and PostgreSQL (one pass per PostgreSQL
# configuration and round), each with applications approved and issued in
# bulk, and a fresh P-256 key's CSR for each.
npg=0 nsq=0
for c in $CONFIGS; do case $c in pg-*) npg=$((npg + 1)) ;; sqlite-1) nsq=1 ;; *) echo "unknown configuration $c" >&2; exit 2 ;; esac; done
prepare() { # prepare HOME COUNT [store URL]
	local home=$1 n=$2 url=${3:-}
	[ "$n" -gt 0 ] || return 0
	(
		export CMCA_HOME=$home
		[ -z "$url" ] || export CMCA_STORE_URL=$url
		"$B/cmca" init --ca-name "Bench PG CA" --ca-org Bench --ca-country CN >/dev/null
		prepare_downloads "$B" "$n" "$home"
	)
}
echo "preparing $((nsq * N * ROUNDS)) SQLite and $((npg * N * ROUNDS)) PostgreSQL downloads" >&2
prepare "$WORK/sqlite" $((nsq * N * ROUNDS))
prepare "$WORK/pghome" $((npg * N * ROUNDS)) "$URL"
# After cmca init, which wants an empty database.
psqlc -d cmca -c 'CREATE EXTENSION pg_stat_statements'
sync

TCK=$(getconf CLK_TCK)
# ticks PID...: CPU ticks (user + system) of the processes.
ticks() { local t=0 p s; for p in "$@"; do s=$(cat "/proc/$p/stat" 2>/dev/null) || continue; s=${s##*) }; set -- $s; t=$((t + ${12} + ${13})); done; echo "$t"; }
# pgticks: the PostgreSQL server's CPU ticks: the postmaster (with its
# reaped children: backends that exited) and its live children.
pgticks() {
	local t s kids
	s=$(cat "/proc/$PGPID/stat"); s=${s##*) }; set -- $s
	t=$((${12} + ${13} + ${14} + ${15}))
	# cat, not awk on the files: a process may end between the glob and
	# the read, and cat goes on where some awks stop.
	kids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v pp="$PGPID" '{sub(/^.*\) /, ""); if ($2 == pp) n += $12 + $13} END {print n + 0}')
	echo $((t + kids))
}
# machine: busy and total ticks of all CPUs (/proc/stat).
machine() { awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6}' /proc/stat; }
now() { date +%s.%N; }

RAW=$WORK/raw.tsv
: >"$RAW"
OUT=$WORK/results.md
: >"$OUT"
{
	echo "Run: cmca serve on SQLite vs on PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (fsync, synchronous_commit on) on $(hostname), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), N=$N per pass, $C clients, $ROUNDS rounds"
	echo
	echo "| round | configuration | certs/s | p50 | p99 | cmca serve CPU | postgres CPU | load generator CPU | rest of machine | idle | statements / download | commits / download |"
	echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} | tee -a "$OUT"
sq_skip=0 pg_skip=0
for r in $(seq "$ROUNDS"); do
	echo "round $r, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/loadavg.txt" >&2
	for cfg in $CONFIGS; do
		k=${cfg#*-}
		if [ "$cfg" = sqlite-1 ]; then
			home=$WORK/sqlite url="" skip=$sq_skip
			sq_skip=$((sq_skip + N))
		else
			home=$WORK/pghome url=$URL skip=$pg_skip
			pg_skip=$((pg_skip + N))
		fi
		SPIDS=()
		addrs=""
		for i in $(seq "$k"); do
			af=$WORK/addr-$cfg-$i.json
			rm -f "$af"
			CMCA_HOME=$home CMCA_STORE_URL=$url "$B/cmca" serve --listen 127.0.0.1:0 --addr-file "$af" \
				--cpuprofile "$WORK/prof/$cfg-r$r-i$i.pprof" 2>"$WORK/serve-$cfg-r$r-i$i.log" &
			SPIDS+=($!)
		done
		for i in $(seq "$k"); do
			af=$WORK/addr-$cfg-$i.json
			for _ in $(seq 300); do [ -s "$af" ] && break; sleep 0.1; done
			a=$(sed -n 's/.*"https":"\([^"]*\)".*/\1/p' "$af")
			[ -n "$a" ] || { echo "cmca serve $cfg #$i did not start:" >&2; cat "$WORK/serve-$cfg-r$r-i$i.log" >&2; exit 1; }
			addrs=${addrs:+$addrs,}$a
		done
		psqlc -d cmca -c 'SELECT pg_stat_statements_reset()' >/dev/null
		x0=$(psqlc -d cmca -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'cmca'")
		if [ "$SAMPLE" = 1 ] && [ -n "$url" ]; then
			(while :; do psqlc -d cmca -c "SELECT coalesce(wait_event_type || ':' || wait_event, 'cpu') FROM pg_stat_activity WHERE datname = 'cmca' AND state = 'active' AND pid <> pg_backend_pid()"; sleep 0.2; done) >"$WORK/waits-$cfg-r$r.txt" 2>/dev/null &
			SAMPLER=$!
		fi
		read -r mb0 mt0 < <(machine)
		c0=$(ticks "${SPIDS[@]}") p0=$(pgticks) t0=$(now)
		line=$("$B/serveload" -addr "$addrs" -ca "$home/ca/ca.crt" -jobs "$home.csrs/batch.jsonl" -skip "$skip" -n "$N" -c "$C")
		c1=$(ticks "${SPIDS[@]}") p1=$(pgticks) t1=$(now)
		read -r mb1 mt1 < <(machine)
		if [ "$SAMPLE" = 1 ] && [ -n "$url" ]; then kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true; fi
		x1=$(psqlc -d cmca -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'cmca'")
		stmts=$(psqlc -d cmca -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'cmca') AND query NOT LIKE '%pg_stat%'")
		[ -z "$url" ] || psqlc -d cmca -c "SELECT calls, left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'cmca') AND query NOT LIKE '%pg_stat%' ORDER BY calls DESC" >"$WORK/statements-$cfg-r$r.txt"
		for p in "${SPIDS[@]}"; do kill -TERM "$p"; done
		for p in "${SPIDS[@]}"; do wait "$p" || true; done
		SPIDS=()
		grep -q ' bad=0 ' <<<"$line" || echo "warning: $cfg round $r: $line" >&2
		# one TSV row: round cfg ok rate p50 p99 wall cmca pg load machine-busy machine-total stmts commits
		awk -v r="$r" -v cfg="$cfg" -v t0="$t0" -v t1="$t1" -v tck="$TCK" -v cm=$((c1 - c0)) -v pg=$((p1 - p0)) \
			-v mb=$((mb1 - mb0)) -v mt=$((mt1 - mt0)) -v st="$stmts" -v xc=$((x1 - x0)) -v sql="${url:-sqlite}" -v ncpu="$(nproc)" '
			function ms(d) { if (d ~ /µs$/) return d / 1000; if (d ~ /ms$/) return d + 0; if (d ~ /s$/) return d * 1000; return d }
			{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
			END {
				w = t1 - t0; sub(/\/s$/, "", v["rate"]); sub(/s$/, "", v["cpu"])
				cmc = cm / tck / w; pgc = pg / tck / w; ld = v["cpu"] / w
				busy = mb / mt * ncpu; rest = busy - cmc - pgc - ld; if (rest < 0) rest = 0
				if (sql == "sqlite") { s = "-"; x = "-" } else { s = st / v["ok"]; x = xc / v["ok"] }
				printf "%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\n", r, cfg, v["ok"], v["rate"], ms(v["p50"]), ms(v["p99"]), w, cmc, pgc, ld, rest, ncpu - busy, s, x
			}' <<<"$line" >>"$RAW"
		tail -1 "$RAW" | awk -F'\t' '{
			s = ($13 == "-") ? "-" : sprintf("%.1f", $13); x = ($14 == "-") ? "-" : sprintf("%.3f", $14)
			printf "| %s | %s | %s/s | %.1f ms | %.1f ms | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n", $1, $2, $4, $5, $6, $8, $9, $10, $11, $12, s, x }' | tee -a "$OUT"
	done
done
echo "after the run, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$WORK/loadavg.txt" >&2

# Medians over the rounds, and the ratio of the best PostgreSQL
# configuration present to SQLite.
{
	echo
	echo "CPU columns are cores (CPU seconds per second of the run; the machine has $(nproc)). Load average: $(paste -sd';' "$WORK/loadavg.txt")."
	echo
	echo "Medians over $ROUNDS rounds:"
	echo
	echo "| configuration | certs/s | p50 | p99 | cmca serve CPU | postgres CPU | load generator CPU | rest of machine | idle | statements / download | commits / download | / SQLite |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' -v order="$CONFIGS" '
		function median(cfg, col,   n, a, i, j, t) {
			n = 0; for (i = 1; i <= rows; i++) if (c[i] == cfg && f[i, col] != "-") a[++n] = f[i, col] + 0
			if (n == 0) return "-"
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ rows++; c[rows] = $2; for (k = 1; k <= NF; k++) f[rows, k] = $k }
		END {
			nc = split(order, cfgs, " ")
			base = median("sqlite-1", 4)
			for (i = 1; i <= nc; i++) {
				g = cfgs[i]; rate = median(g, 4); st = median(g, 13); xc = median(g, 14)
				ratio = (base != "-" && base > 0) ? sprintf("%.2fx", rate / base) : ""
				printf "| %s | %.0f/s | %.1f ms | %.1f ms | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s |\n", g, rate, median(g, 5), median(g, 6), median(g, 8), median(g, 9), median(g, 10), median(g, 11), median(g, 12), (st == "-") ? "-" : sprintf("%.1f", st), (xc == "-") ? "-" : sprintf("%.3f", xc), ratio
			}
		}' "$RAW"
} | tee -a "$OUT"

for cfg in $CONFIGS; do
	set -- "$WORK"/prof/"$cfg"-r"$ROUNDS"-i*.pprof
	echo | tee -a "$OUT"
	echo "CPU profile of cmca serve, $cfg, round $ROUNDS, all instances merged (top 12, flat):" | tee -a "$OUT"
	go tool pprof -top -nodecount=12 "$B/cmca" "$@" 2>/dev/null | sed -n '/flat%/,$p' | tee -a "$OUT"
	if [ -f "$WORK/statements-$cfg-r$ROUNDS.txt" ]; then
		echo "Statements ($cfg, round $ROUNDS: calls, query), top 12:" | tee -a "$OUT"
		head -12 "$WORK/statements-$cfg-r$ROUNDS.txt" | tee -a "$OUT"
	fi
	if [ -s "$WORK/waits-$cfg-r$ROUNDS.txt" ]; then
		echo "Active backends sampled every 0.2 s ($cfg, round $ROUNDS: samples, wait):" | tee -a "$OUT"
		sort "$WORK/waits-$cfg-r$ROUNDS.txt" | uniq -c | sort -rn | head -8 | tee -a "$OUT"
	fi
done
echo "results: $OUT" >&2
