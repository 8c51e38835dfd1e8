#!/bin/sh
# Noise discipline for the default (stable) rules: watch this host live
# while ordinary busy work runs -- a package (re)install, pip into a venv,
# git, a C build, the daily cron jobs -- for at least SECONDS (whole
# rounds of all of it), and report every alert.  Benign
# work must raise none; the exit status is the number of alerts (capped).
#
#   scripts/noise_check.sh [SECONDS]      (root; default 60)
#
# Anything else running on the host is watched too: run it on an otherwise
# quiet machine, or read the alerts' proc.* fields before blaming a rule.
set -u

DURATION=${1:-60}
WORK=$(mktemp -d /tmp/falco-noise.XXXXXX)
ALERTS="$WORK/alerts.json"
LOG="$WORK/falco.log"
REPO=$(cd "$(dirname "$0")/.." && pwd)

falco run --json -U >"$ALERTS" 2>"$LOG" &
FALCO=$!
# Start the work once the driver is attached.
for _ in $(seq 100); do
	grep -q "watching this host" "$LOG" 2>/dev/null && break
	sleep 0.2
done
if ! grep -q "watching this host" "$LOG"; then
	echo "noise_check: falco did not start:" >&2
	cat "$LOG" >&2
	exit 125
fi

step() {
	echo "noise_check: $*" >&2
	"$@" >>"$WORK/work.log" 2>&1 || echo "noise_check:   (exit $?, see $WORK/work.log)" >&2
}

END=$(( $(date +%s) + DURATION ))
round=0
while [ "$(date +%s)" -lt "$END" ]; do
	round=$((round + 1))
	step apt-get install --reinstall -y --no-install-recommends hostname
	step python3 -m venv "$WORK/venv$round"
	step "$WORK/venv$round/bin/pip" install --no-cache-dir -q six
	step git clone -q "$REPO" "$WORK/repo$round"
	step git -C "$WORK/repo$round" log --oneline -5
	step sh -c "cd '$WORK/repo$round' && echo x >> README.md && \
		git -c user.name=n -c user.email=n@n commit -qam noise"
	step make -C "$WORK/repo$round/driver/bpf" OUTPUT="$WORK/bpfbuild$round" TARGET="$WORK/bpf$round.o"
	step cc -O2 -o "$WORK/loop$round" "$REPO/scripts/bench/getppid_loop.c"
	# (apt-compat sleeps up to 30 min at random when run by hand: skip it)
	step run-parts --report --regex '^(dpkg|man-db|logrotate)$' /etc/cron.daily
	# systemd timers where systemd runs (not inside containers)
	[ -d /run/systemd/system ] && step systemctl start --wait logrotate.service
done

# Whole rounds only, so every kind of work ran; then stop falco cleanly.
kill -INT "$FALCO"
wait "$FALCO"
n=$(grep -c '"rule"' "$ALERTS")
echo "noise_check: $round rounds of benign work in ${DURATION}s: $n alerts"
tail -n 12 "$LOG" | grep -E "events|dropped" >&2
if [ "$n" -gt 0 ]; then
	python3 - "$ALERTS" <<'EOF'
import collections, json, sys
alerts = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for rule, k in collections.Counter(a["rule"] for a in alerts).most_common():
    print(f"  {k:5d}  {rule}")
for a in alerts[:10]:
    print("   ", a["output"][:300])
EOF
fi
[ "$n" -gt 100 ] && n=100
exit "$n"
