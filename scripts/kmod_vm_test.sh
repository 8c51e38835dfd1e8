#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only OR MIT
#
# Build the falco kernel module for a Debian kernel, boot that kernel with
# qemu (KVM when usable, else TCG) on an initramfs holding busybox, the
# module and driver/kmod/test/kmod_test.c (static), and report what the
# test saw.  The running kernel is never touched.
#
#   scripts/kmod_vm_test.sh [--kernel VERSION] [--out DIR] [--timeout SEC]
#                           [--accel kvm|tcg] [--smp N] [--module KO]
#                           [--no-test] [--python] [--bench ROUNDS]
#                           [--bench-seconds S] [--scap-src DIR]
#                           [--icount SHIFT]
#
# --module KO boots an already built falco.ko (e.g. the one DKMS installed
# in /lib/modules/VERSION/updates/dkms) instead of building driver/kmod.
# --no-test leaves out driver/kmod/test/kmod_test.c.
# --python also runs `falco run --driver kmod` (the host's Python and this
# editable install, reached over a read-only 9p export of the host's /)
# while scripts/kmod_vm/kbench.c does real actions; checks the alerts of
# scripts/kmod_vm/vm_rules.yaml (scripts/kmod_vm/pycheck.sh).
# --bench ROUNDS times a getppid loop with no module, with falco.ko and
# with Debian's scap.ko (falcosecurity-scap-dkms: /usr/src/scap-*, else
# apt-get download; built unchanged against the same headers, the row
# left out when that build fails, as it does on 6.12), each drained by
# kbench's consumer
# (scripts/kmod_vm/bench.sh); KBENCH lines, also in OUT/bench.jsonl.
# --icount SHIFT (TCG only) runs the guest clock off the instruction count
# (-icount shift=SHIFT,sleep=off, one TCG thread, one vCPU: with two,
# 6.1 hangs bringing up the second): 2^SHIFT ns per guest instruction
# whatever the host's load, so bench timings repeat run to run.  They count
# instructions (the loop's and the consumer's, which shares the CPU), not
# cache or pipeline effects.
# TCG runs the vCPUs on one host thread (-accel tcg,thread=single): with
# one thread per vCPU, QEMU 7.2 now and then leaves a vCPU executing a stale
# translation of an INT3 that text_poke_bp() (jump labels, static calls:
# every tracepoint attach / detach) has already replaced; the guest's int3
# handler sees the final byte, backs up and re-runs the stale INT3 forever
# (soft lockup at the patched site, e.g. syscall_trace_enter).  The
# environment can change that and the command line for debugging:
#   KMODVM_TCG_THREAD=multi  one host thread per vCPU (QEMU's default)
#   KMODVM_APPEND="..."      appended to the guest's kernel command line,
#                            e.g. "loglevel=7 softlockup_all_cpu_backtrace=1"
# VERSION defaults to the newest /boot/vmlinuz-* that has headers in
# /lib/modules/VERSION/build.  Needs: qemu-system-x86, busybox-static,
# gcc, make, cpio, linux-image-amd64 and linux-headers-amd64.
#
# Last line of stdout (machine-readable):
#   KMODVM-VERDICT {"ok": true|false, ...}
# Exit status: 0 pass, 1 fail, 77 skipped (a tool, image or headers missing;
# the reason is on a line "KMODVM-SKIP <reason>").
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
KVER=""
OUT=""
TIMEOUT=480
KVM_PROBE=${KVM_PROBE:-20}
ACCEL=""
SMP=2
RING_BYTES=1048576
MODULE=""
RUN_TEST=1
PYCHECK=0
BENCH_ROUNDS=0
BENCH_SECONDS=1
BENCH_RING_BYTES=8388608	# scap.ko's fixed RING_BUF_SIZE: same room for both
SCAP_SRC=""
ICOUNT=""
PYTHON=${PYTHON:-python3}
KMODVM_APPEND=${KMODVM_APPEND:-}
KMODVM_TCG_THREAD=${KMODVM_TCG_THREAD:-single}

while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) KVER=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--accel) ACCEL=$2; shift 2 ;;
	--smp) SMP=$2; shift 2 ;;
	--module) MODULE=$2; shift 2 ;;
	--no-test) RUN_TEST=0; shift ;;
	--python) PYCHECK=1; shift ;;
	--bench) BENCH_ROUNDS=$2; shift 2 ;;
	--bench-seconds) BENCH_SECONDS=$2; shift 2 ;;
	--scap-src) SCAP_SRC=$2; shift 2 ;;
	--icount) ICOUNT=$2; ACCEL=tcg; SMP=1; shift 2 ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | grep '^#'; exit 0 ;;
	*) echo "unknown argument: $1" >&2; exit 2 ;;
	esac
done

skip() {
	echo "KMODVM-SKIP $*"
	echo "KMODVM-VERDICT {\"ok\": false, \"skipped\": true, \"reason\": \"$*\"}"
	exit 77
}

START=$(date +%s)
for tool in qemu-system-x86_64:qemu-system-x86 gcc:gcc make:make \
	    cpio:cpio gzip:gzip; do
	command -v "${tool%%:*}" >/dev/null 2>&1 ||
		skip "${tool%%:*} not found (apt-get install ${tool#*:})"
done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
	{ BUSYBOX=$(command -v busybox 2>/dev/null || true); }
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] ||
	skip "static busybox not found (apt-get install busybox-static)"
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] ||
	skip "static libc not found (apt-get install libc6-dev)"

if [ -z "$KVER" ]; then
	for img in $(ls -v /boot/vmlinuz-* 2>/dev/null); do
		v=${img#/boot/vmlinuz-}
		[ -d "/lib/modules/$v/build" ] && KVER=$v
	done
	[ -n "$KVER" ] || skip "no /boot/vmlinuz-* with headers (apt-get install linux-image-amd64 linux-headers-amd64)"
fi
KIMG=/boot/vmlinuz-$KVER
[ -r "$KIMG" ] || skip "no kernel image $KIMG (apt-get install linux-image-$KVER)"
[ -d "/lib/modules/$KVER/build" ] ||
	skip "no headers for $KVER (apt-get install linux-headers-$KVER)"

if [ -z "$OUT" ]; then
	OUT=$(mktemp -d /tmp/kmod-vm.XXXXXX)
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
echo "KMODVM kernel $KVER, work dir $OUT"

# ---- build the module (warnings are failures) --------------------------
rm -rf "$OUT/kmod"
if [ -n "$MODULE" ]; then
	[ -r "$MODULE" ] || skip "no module $MODULE"
	mkdir -p "$OUT/kmod"
	case "$MODULE" in
	*.ko.xz) xz -dc "$MODULE" >"$OUT/kmod/falco.ko" ;;
	*.ko.zst) zstd -qdc "$MODULE" >"$OUT/kmod/falco.ko" ;;
	*) cp "$MODULE" "$OUT/kmod/falco.ko" ;;
	esac
	: >"$OUT/build.log"
	echo "KMODVM using prebuilt $MODULE"
elif ! make -s -C "$ROOT/driver/kmod" KVER="$KVER" BUILD="$OUT/kmod" \
	>"$OUT/build.log" 2>&1; then
	cat "$OUT/build.log"
	echo "KMODVM-VERDICT {\"ok\": false, \"stage\": \"build\", \"kernel\": \"$KVER\"}"
	exit 1
fi
WARNINGS=$(grep -c -E 'warning:|error:' "$OUT/build.log")
if [ "$WARNINGS" -ne 0 ]; then
	grep -E 'warning:|error:' "$OUT/build.log"
fi
echo "KMODVM module $OUT/kmod/falco.ko ($WARNINGS build warnings)"

# ---- scap.ko, Debian's Falco driver (--bench) --------------------------
SCAP_STATUS=off
SCAP_WARNINGS=0
SCAP_SRC_USED=""
if [ "$BENCH_ROUNDS" -gt 0 ]; then
	SCAP_STATUS=ok
	src=$SCAP_SRC
	[ -n "$src" ] || src=$(ls -d /usr/src/scap-* 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$src" ]; then
		rm -rf "$OUT/scap-deb"
		mkdir -p "$OUT/scap-deb"
		if (cd "$OUT/scap-deb" && apt-get download falcosecurity-scap-dkms) \
			>"$OUT/scap-download.log" 2>&1 &&
		   dpkg-deb -x "$OUT"/scap-deb/falcosecurity-scap-dkms_*.deb \
			"$OUT/scap-deb/x" >>"$OUT/scap-download.log" 2>&1; then
			src=$(ls -d "$OUT"/scap-deb/x/usr/src/scap-* 2>/dev/null | tail -n 1)
		fi
	fi
	if [ -z "$src" ] || [ ! -f "$src/ppm_events_public.h" ]; then
		SCAP_STATUS="no falcosecurity-scap-dkms source (apt-get install falcosecurity-scap-dkms, or apt-get download failed: $OUT/scap-download.log)"
	else
		SCAP_SRC_USED=$src
		rm -rf "$OUT/scap"
		mkdir -p "$OUT/scap"
		cp -r "$src/." "$OUT/scap/"
		# Built as Debian ships it: the 2022 snapshot builds against
		# bookworm's 6.1; against 6.12 it stops on kernel API changes made
		# since (fd_is_open, class_create, struct fd, strlcpy, ...), and the
		# scap row is then reported missing with the compiler's first error.
		if ! make -C "/lib/modules/$KVER/build" M="$OUT/scap" modules \
			>"$OUT/scap-build.log" 2>&1; then
			SCAP_STATUS="scap.ko does not build against $KVER: $(grep -m 1 'error:' "$OUT/scap-build.log" | tr -d '"\\')"
		fi
		SCAP_WARNINGS=$(grep -c 'warning:' "$OUT/scap-build.log")
		# ppm_events_public.h includes "../userspace/common/types.h",
		# outside the dkms tree: a stand-in for kbench's userspace build
		mkdir -p "$OUT/scap-inc/userspace/common" "$OUT/scap-inc/include"
		printf '#include <stdbool.h>\n#include <stdint.h>\n#include <linux/types.h>\n' \
			>"$OUT/scap-inc/userspace/common/types.h"
	fi
	echo "KMODVM scap.ko: $SCAP_STATUS ($SCAP_WARNINGS build warnings, source ${SCAP_SRC_USED:-none})"
fi

# ---- initramfs ---------------------------------------------------------
IRD=$OUT/initramfs
rm -rf "$IRD"
mkdir -p "$IRD/bin" "$IRD/dev" "$IRD/proc" "$IRD/sys" "$IRD/tmp" "$IRD/etc"
cp "$BUSYBOX" "$IRD/bin/busybox"
cp "$OUT/kmod/falco.ko" "$IRD/falco.ko"

# add_module KO DIR: unpack a kernel module into DIR, listed in DIR/order
# (insmod order).
add_module() {
	name=$(basename "$1")
	name=${name%%.ko*}.ko
	mkdir -p "$2"
	case "$1" in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -qdc "$1" ;;
	*) cat "$1" ;;
	esac >"$2/$name" || return 1
	echo "$name" >>"$2/order"
}
# overlayfs (a module in Debian's kernels) for the overlay-layer checks
mkdir -p "$IRD/lib/ovl"
: >"$IRD/lib/ovl/order"
for ko in $(modprobe --show-depends -S "$KVER" overlay 2>/dev/null |
	    awk '$1 == "insmod" { print $2 }'); do
	add_module "$ko" "$IRD/lib/ovl" || echo "KMODVM cannot unpack $ko"
done
if ! gcc -static -O2 -Wall -Wextra -Wno-sign-compare -Wno-unused-parameter \
	-I"$ROOT/driver" -I"$ROOT/driver/kmod" -I"$ROOT/driver/bpf" \
	-o "$IRD/kmod_test" "$ROOT/driver/kmod/test/kmod_test.c" \
	>"$OUT/test-build.log" 2>&1; then
	cat "$OUT/test-build.log"
	echo "KMODVM-VERDICT {\"ok\": false, \"stage\": \"test-build\", \"kernel\": \"$KVER\"}"
	exit 1
fi
if [ "$BENCH_ROUNDS" -gt 0 ] || [ "$PYCHECK" = 1 ]; then
	KB_FLAGS=""
	if [ "$SCAP_STATUS" = ok ]; then
		KB_FLAGS="-DKB_SCAP -I$OUT/scap -I$OUT/scap-inc/include"
		cp "$OUT/scap/scap.ko" "$IRD/scap.ko"
	fi
	# shellcheck disable=SC2086
	if ! gcc -static -O2 -Wall -Wextra $KB_FLAGS -I"$ROOT/driver/kmod" \
		-o "$IRD/kbench" "$ROOT/scripts/kmod_vm/kbench.c" \
		>"$OUT/kbench-build.log" 2>&1; then
		cat "$OUT/kbench-build.log"
		echo "KMODVM-VERDICT {\"ok\": false, \"stage\": \"kbench-build\", \"kernel\": \"$KVER\"}"
		exit 1
	fi
	cp "$ROOT/scripts/kmod_vm/bench.sh" "$ROOT/scripts/kmod_vm/pycheck.sh" "$IRD/"
	chmod 755 "$IRD/bench.sh" "$IRD/pycheck.sh"
fi

# ---- Python over 9p (--python) -----------------------------------------
PY_STATUS=off
PY=""
if [ "$PYCHECK" = 1 ]; then
	PY_STATUS=ok
	PY=$("$PYTHON" -c 'import sys; print(sys.executable)' 2>/dev/null)
	if [ -z "$PY" ] || ! (cd / && "$PY" -c 'import falco.live.kmod_source') \
		>/dev/null 2>&1; then
		PY_STATUS="falco does not import with $PYTHON (pip install -e . first)"
	elif ! (cd / && "$PY" -m falco run --dry-run \
		-r "$ROOT/scripts/kmod_vm/vm_rules.yaml") >"$OUT/py-preflight.log" 2>&1; then
		# the tree itself is broken (e.g. stale Cython extensions):
		# a failure, not a skip
		PY_STATUS="broken: falco run --dry-run fails on the host: $(tail -n 1 "$OUT/py-preflight.log")"
	elif ! command -v modprobe >/dev/null 2>&1; then
		PY_STATUS="modprobe not found (apt-get install kmod)"
	else
		mkdir -p "$IRD/lib/vm"
		: >"$IRD/lib/vm/order"
		for m in virtio_pci 9pnet_virtio 9p; do
			modprobe --show-depends -S "$KVER" "$m" 2>/dev/null
		done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$OUT/9p-modules"
		grep -q '/9p\.ko' "$OUT/9p-modules" ||
			PY_STATUS="no 9p module in /lib/modules/$KVER"
		for ko in $(cat "$OUT/9p-modules"); do
			add_module "$ko" "$IRD/lib/vm" || PY_STATUS="cannot unpack $ko"
		done
		# what kbench's actions read instead of the host's
		echo 'root:*:19000:0:99999:7:::' >"$IRD/etc/shadow"
		chmod 600 "$IRD/etc/shadow"
	fi
	echo "KMODVM python check: $PY_STATUS (${PY:-no python})"
fi
PY_ON=0
[ "$PY_STATUS" = ok ] && PY_ON=1

[ "$(id -u)" = 0 ] && mknod -m 600 "$IRD/dev/console" c 5 1 2>/dev/null
cat >"$IRD/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
echo "KMODINIT kernel \$(uname -r) cpus \$(nproc)"
for m in \$(cat /lib/ovl/order); do
	insmod /lib/ovl/\$m || echo "KMODINIT insmod \$m failed"
done
if [ $RUN_TEST = 1 ]; then
	if insmod /falco.ko ring_bytes=$RING_BYTES; then
		echo "KMODINIT insmod ok"
		/kmod_test /kmod_test
		echo "KMODINIT test-exit \$?"
	else
		echo "KMODINIT insmod failed"
	fi
fi
if [ $PY_ON = 1 ]; then
	/pycheck.sh "$PY" "$ROOT/scripts/kmod_vm/vm_rules.yaml" $RING_BYTES 300
fi
dmesg | grep -E 'falco|BUG|Oops|WARNING|general protection|Call Trace' |
	sed 's/^/KMODINIT dmesg: /'
if dmesg | grep -qE 'BUG:|Oops|WARNING:|general protection|Call Trace'; then
	echo "KMODINIT-DMESG dirty"
else
	echo "KMODINIT-DMESG clean"
fi
if [ $BENCH_ROUNDS -gt 0 ]; then
	dmesg -c >/dev/null
	/bench.sh $BENCH_ROUNDS $BENCH_SECONDS $BENCH_RING_BYTES
	dmesg | grep -E 'BUG|Oops|WARNING|general protection|Call Trace' |
		sed 's/^/KBENCH dmesg: /'
	if dmesg | grep -qE 'BUG:|Oops|WARNING:|general protection|Call Trace'; then
		echo "KBENCH-DMESG dirty"
	else
		echo "KBENCH-DMESG clean"
	fi
fi
echo "KMODINIT-DONE"
poweroff -f
INIT
chmod 755 "$IRD/init"
(cd "$IRD" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/initramfs.gz"

# ---- boot --------------------------------------------------------------
if [ -z "$ACCEL" ]; then
	ACCEL=tcg
	[ -r /dev/kvm ] && [ -w /dev/kvm ] && ACCEL=kvm
fi
# --python: the host's / read-only over 9p (security_model=none: the guest
# sees the files as qemu's user reads them; readonly=on: no writes back)
VIRTFS=""
[ "$PY_ON" = 1 ] &&
	VIRTFS="-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
boot() {
	case "$1" in
	# -cpu host trips on IA32_ARCH_CAPABILITIES under nested KVM: default model
	kvm) accel="-accel kvm" ;;
	# one host thread for every vCPU: see the header (stale INT3)
	*) accel="-accel tcg,thread=$KMODVM_TCG_THREAD -cpu max" ;;
	esac
	[ -n "$ICOUNT" ] &&
		accel="-accel tcg,thread=single -cpu max -icount shift=$ICOUNT,sleep=off"
	echo "qemu-system-x86_64 $accel -smp $SMP" >"$OUT/qemu.cmd"
	# shellcheck disable=SC2086
	timeout "$TIMEOUT" qemu-system-x86_64 $accel -m 768 -smp "$SMP" $VIRTFS \
		-kernel "$KIMG" -initrd "$OUT/initramfs.gz" \
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic${KMODVM_APPEND:+ $KMODVM_APPEND}" \
		-nographic -monitor none -serial stdio -no-reboot \
		</dev/null >"$OUT/serial.log" 2>"$OUT/qemu.err" &
	qpid=$!
	# Under nested virtualization KVM may open fine and then hang or
	# stop with an internal error: give it KVM_PROBE seconds to reach
	# our /init, then fall back.
	if [ "$1" = kvm ]; then
		waited=0
		while kill -0 "$qpid" 2>/dev/null; do
			grep -q KMODINIT "$OUT/serial.log" 2>/dev/null && break
			if grep -qi 'internal error' "$OUT/qemu.err" ||
			   [ "$waited" -ge "$KVM_PROBE" ]; then
				kill "$qpid" 2>/dev/null
				break
			fi
			sleep 1
			waited=$((waited + 1))
		done
	fi
	wait "$qpid"
	echo $? >"$OUT/qemu.rc"
}
BOOT_START=$(date +%s)
boot "$ACCEL"
# Nested KVM now and then hangs one boot and runs the next: one more try
# before TCG (whose SMP emulation has its own flakes, and is far slower).
if [ "$ACCEL" = kvm ] && ! grep -q KMODINIT "$OUT/serial.log" &&
   ! grep -qi 'internal error' "$OUT/qemu.err"; then
	echo "KMODVM kvm did not reach /init in ${KVM_PROBE}s; booting kvm once more"
	cp "$OUT/serial.log" "$OUT/serial-kvm-first-boot.log"
	BOOT_START=$(date +%s)
	boot kvm
fi
if [ "$ACCEL" = kvm ] && ! grep -q KMODINIT "$OUT/serial.log"; then
	echo "KMODVM kvm unusable ($(head -c 200 "$OUT/qemu.err")), falling back to tcg"
	ACCEL=tcg
	BOOT_START=$(date +%s)
	boot tcg
fi
# A kernel that dies before /init never saw the module: an emulator flake
# (TCG has oopsed on int3 text patching during early boot), so boot again
# once.  Anything after /init started is judged as it is.
if ! grep -q KMODINIT "$OUT/serial.log"; then
	echo "KMODVM the kernel did not reach /init ($(tr -d '\r' <"$OUT/serial.log" |
		grep -m 1 -E 'Oops|panic|BUG' | cut -c1-120)); booting once more"
	cp "$OUT/serial.log" "$OUT/serial-first-boot.log"
	BOOT_START=$(date +%s)
	boot "$ACCEL"
fi
END=$(date +%s)
QEMU_RC=$(cat "$OUT/qemu.rc")

# ---- verdict -----------------------------------------------------------
tr -d '\r' <"$OUT/serial.log" >"$OUT/serial.txt"
grep -E '^(KMODTEST|KMODINIT|KMODPY|KBENCH)' "$OUT/serial.txt" |
	grep -v '^KMODTEST-RECORDS' | grep -v '^KMODINIT-DONE'
sed -n 's/^KMODTEST-RECORDS //p' "$OUT/serial.txt" | head -n 1 >"$OUT/records.hex"
sed -n 's/^KMODTEST-PIDS //p' "$OUT/serial.txt" | head -n 1 >"$OUT/records.pids"
PASS=$(grep -c '^KMODTEST ok ' "$OUT/serial.txt")
FAIL=$(grep -c '^KMODTEST FAIL ' "$OUT/serial.txt")
DMESG=$(sed -n 's/^KMODINIT-DMESG //p' "$OUT/serial.txt")
VERDICT_SEEN=0
grep -q '^KMODTEST-VERDICT ' "$OUT/serial.txt" && VERDICT_SEEN=1
DONE=0
grep -q '^KMODINIT-DONE' "$OUT/serial.txt" && DONE=1
jstr() { printf '%s' "$*" | tr -d '"\\' | tr '\n\t' '  '; }
# a CPU that never left the kernel: named, not just a timeout
LOCKUP=$(grep -m 1 -E 'soft lockup|self-detected stall|detected stalls|blocked for more than' \
	"$OUT/serial.txt" | sed 's/^\[[ 0-9.]*\] //')
LOCKUP=$(jstr "$LOCKUP")

# --python: each rule of vm_rules.yaml alerted, falco stopped cleanly
PY_RESULT=off
PY_ALERTS=""
PY_READY=-1
if [ "$PYCHECK" = 1 ] && [ "$PY_ON" != 1 ]; then
	case "$PY_STATUS" in
	broken:*) PY_RESULT="fail: $(jstr "${PY_STATUS#broken: }")" ;;
	*) PY_RESULT="skipped: $(jstr "$PY_STATUS")" ;;
	esac
elif [ "$PY_ON" = 1 ]; then
	for w in shadow shell connect; do
		grep -q "^KMODPY alert .*KMODPY-RULE $w " "$OUT/serial.txt" &&
			PY_ALERTS="$PY_ALERTS${PY_ALERTS:+,}$w"
	done
	line=$(grep -m 1 '^KMODPY-DONE ' "$OUT/serial.txt")
	PY_READY=$(echo "$line" | sed -n 's/.*ready=\(-\{0,1\}[0-9]*\).*/\1/p')
	PY_READY=${PY_READY:--1}
	PY_RESULT=fail
	[ "${line##*status=}" = ok ] && [ "$PY_ALERTS" = shadow,shell,connect ] &&
		PY_RESULT=ok
fi

# --bench: every row ran, both modules loaded each round, no oops
BENCH_RESULT=off
BENCH_ROWS=0
BENCH_DMESG=""
if [ "$BENCH_ROUNDS" -gt 0 ]; then
	sed -n 's/^KBENCH {/{/p' "$OUT/serial.txt" >"$OUT/bench.jsonl"
	BENCH_ROWS=$(grep -c . "$OUT/bench.jsonl")
	BENCH_DMESG=$(sed -n 's/^KBENCH-DMESG //p' "$OUT/serial.txt")
	errors=$(grep -c '"error": "[^"]' "$OUT/bench.jsonl")
	load_fail=$(grep -c '^KBENCH-LOAD .* [a-z-]*failed' "$OUT/serial.txt")
	falco_loads=$(grep -c '^KBENCH-LOAD falco ok' "$OUT/serial.txt")
	scap_loads=$(grep -c '^KBENCH-LOAD scap ok' "$OUT/serial.txt")
	want_scap=0
	[ "$SCAP_STATUS" = ok ] && want_scap=$BENCH_ROUNDS
	BENCH_RESULT=fail
	if grep -q '^KBENCH-DONE' "$OUT/serial.txt" && [ "$BENCH_DMESG" = clean ] &&
	   [ "$errors" = 0 ] && [ "$load_fail" = 0 ] &&
	   [ "$falco_loads" = "$BENCH_ROUNDS" ] && [ "$scap_loads" = "$want_scap" ]; then
		BENCH_RESULT=ok
	fi
fi

OK=false
if [ "$DONE" = 1 ] && [ "$DMESG" = clean ] && [ "$WARNINGS" = 0 ] &&
   [ -z "$LOCKUP" ] &&
   { [ "$RUN_TEST" = 0 ] ||
     { [ "$VERDICT_SEEN" = 1 ] && [ "$FAIL" = 0 ] && [ "$PASS" -gt 0 ]; }; } &&
   [ "${PY_RESULT%%:*}" != fail ] && [ "$BENCH_RESULT" != fail ]; then
	OK=true
fi
if [ "$OK" != true ]; then
	echo "KMODVM serial log tail ($OUT/serial.txt):"
	grep -v '^KMODTEST-RECORDS' "$OUT/serial.txt" | tail -n 40
fi
echo "KMODVM-VERDICT {\"ok\": $OK, \"kernel\": \"$KVER\", \"accel\": \"$ACCEL${ICOUNT:+-icount$ICOUNT}\", \"pass\": $PASS, \"fail\": $FAIL, \"dmesg\": \"${DMESG:-missing}\", \"lockup\": \"$LOCKUP\", \"build_warnings\": $WARNINGS, \"verdict_seen\": $VERDICT_SEEN, \"powered_off\": $DONE, \"qemu_rc\": $QEMU_RC, \"boot_seconds\": $((END - BOOT_START)), \"total_seconds\": $((END - START)), \"records\": \"$OUT/records.hex\", \"test\": $RUN_TEST, \"python\": \"$PY_RESULT\", \"python_alerts\": \"$PY_ALERTS\", \"python_ready_seconds\": $PY_READY, \"bench\": \"$BENCH_RESULT\", \"bench_rows\": $BENCH_ROWS, \"bench_rounds\": $BENCH_ROUNDS, \"bench_seconds\": $BENCH_SECONDS, \"bench_dmesg\": \"$BENCH_DMESG\", \"bench_file\": \"$OUT/bench.jsonl\", \"scap\": \"$(jstr "$SCAP_STATUS")\", \"scap_build_warnings\": $SCAP_WARNINGS}"
[ "$OK" = true ]
