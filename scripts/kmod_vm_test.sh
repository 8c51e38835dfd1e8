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
#
# --module KO boots an already built falco.ko (e.g. the one DKMS installed
# in /lib/modules/VERSION/updates/dkms) instead of building driver/kmod.
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

while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) KVER=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--accel) ACCEL=$2; shift 2 ;;
	--smp) SMP=$2; shift 2 ;;
	--module) MODULE=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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

# ---- initramfs ---------------------------------------------------------
IRD=$OUT/initramfs
rm -rf "$IRD"
mkdir -p "$IRD/bin" "$IRD/dev" "$IRD/proc" "$IRD/sys" "$IRD/tmp" "$IRD/etc"
cp "$BUSYBOX" "$IRD/bin/busybox"
cp "$OUT/kmod/falco.ko" "$IRD/falco.ko"
if ! gcc -static -O2 -Wall -Wextra -Wno-sign-compare -Wno-unused-parameter \
	-I"$ROOT/driver" -I"$ROOT/driver/kmod" -I"$ROOT/driver/bpf" \
	-o "$IRD/kmod_test" "$ROOT/driver/kmod/test/kmod_test.c" \
	>"$OUT/test-build.log" 2>&1; then
	cat "$OUT/test-build.log"
	echo "KMODVM-VERDICT {\"ok\": false, \"stage\": \"test-build\", \"kernel\": \"$KVER\"}"
	exit 1
fi
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
if insmod /falco.ko ring_bytes=$RING_BYTES; then
	echo "KMODINIT insmod ok"
	/kmod_test /kmod_test
	echo "KMODINIT test-exit \$?"
else
	echo "KMODINIT insmod failed"
fi
dmesg | grep -E 'falco|BUG|Oops|WARNING|general protection|Call Trace' |
	sed 's/^/KMODINIT dmesg: /'
if dmesg | grep -qE 'BUG:|Oops|WARNING:|general protection|Call Trace'; then
	echo "KMODINIT-DMESG dirty"
else
	echo "KMODINIT-DMESG clean"
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
boot() {
	case "$1" in
	# -cpu host trips on IA32_ARCH_CAPABILITIES under nested KVM: default model
	kvm) accel="-accel kvm" ;;
	*) accel="-accel tcg -cpu max" ;;
	esac
	# shellcheck disable=SC2086
	timeout "$TIMEOUT" qemu-system-x86_64 $accel -m 768 -smp "$SMP" \
		-kernel "$KIMG" -initrd "$OUT/initramfs.gz" \
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic" \
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
if [ "$ACCEL" = kvm ] && ! grep -q KMODINIT "$OUT/serial.log"; then
	echo "KMODVM kvm unusable ($(head -c 200 "$OUT/qemu.err")), falling back to tcg"
	ACCEL=tcg
	BOOT_START=$(date +%s)
	boot tcg
fi
END=$(date +%s)
QEMU_RC=$(cat "$OUT/qemu.rc")

# ---- verdict -----------------------------------------------------------
tr -d '\r' <"$OUT/serial.log" >"$OUT/serial.txt"
grep -E '^KMOD(TEST|INIT)' "$OUT/serial.txt" | grep -v '^KMODTEST-RECORDS' |
	grep -v '^KMODINIT-DONE'
sed -n 's/^KMODTEST-RECORDS //p' "$OUT/serial.txt" | head -n 1 >"$OUT/records.hex"
sed -n 's/^KMODTEST-PIDS //p' "$OUT/serial.txt" | head -n 1 >"$OUT/records.pids"
PASS=$(grep -c '^KMODTEST ok ' "$OUT/serial.txt")
FAIL=$(grep -c '^KMODTEST FAIL ' "$OUT/serial.txt")
DMESG=$(sed -n 's/^KMODINIT-DMESG //p' "$OUT/serial.txt")
VERDICT_SEEN=0
grep -q '^KMODTEST-VERDICT ' "$OUT/serial.txt" && VERDICT_SEEN=1
DONE=0
grep -q '^KMODINIT-DONE' "$OUT/serial.txt" && DONE=1
OK=false
if [ "$VERDICT_SEEN" = 1 ] && [ "$DONE" = 1 ] && [ "$FAIL" = 0 ] &&
   [ "$PASS" -gt 0 ] && [ "$DMESG" = clean ] && [ "$WARNINGS" = 0 ]; then
	OK=true
fi
if [ "$OK" != true ]; then
	echo "KMODVM serial log tail ($OUT/serial.txt):"
	grep -v '^KMODTEST-RECORDS' "$OUT/serial.txt" | tail -n 40
fi
echo "KMODVM-VERDICT {\"ok\": $OK, \"kernel\": \"$KVER\", \"accel\": \"$ACCEL\", \"pass\": $PASS, \"fail\": $FAIL, \"dmesg\": \"${DMESG:-missing}\", \"build_warnings\": $WARNINGS, \"verdict_seen\": $VERDICT_SEEN, \"powered_off\": $DONE, \"qemu_rc\": $QEMU_RC, \"boot_seconds\": $((END - BOOT_START)), \"total_seconds\": $((END - START)), \"records\": \"$OUT/records.hex\"}"
[ "$OK" = true ]
