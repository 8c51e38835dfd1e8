#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only OR MIT
#
# In-VM overhead bench (copied into the initramfs by scripts/kmod_vm_test.sh
# --bench, run by its /init after the module test):
#
#   /bench.sh ROUNDS SECONDS RING_BYTES
#
# Each round times the getppid loop of /kbench three ways: no module
# loaded, /falco.ko loaded and drained, /scap.ko (Debian's Falco driver,
# when the harness could build it) loaded and drained.  The order rotates
# from round to round so that drift in the emulator does not favour one
# mode.  Each module is loaded only for its own row: the other one's
# tracepoint probes must not tax the loop.  Output: kbench's KBENCH lines,
# plus "KBENCH-LOAD <module> ok|failed" for every insmod.
ROUNDS=$1
SECONDS_PER_ROW=$2
RING_BYTES=$3

rmmod falco 2>/dev/null
rmmod scap 2>/dev/null

row() {
	mode=$1
	round=$2
	case "$mode" in
	none)
		/kbench run none "$SECONDS_PER_ROW" "$round"
		;;
	falco)
		if insmod /falco.ko ring_bytes="$RING_BYTES"; then
			echo "KBENCH-LOAD falco ok"
			/kbench run falco "$SECONDS_PER_ROW" "$round"
			rmmod falco || echo "KBENCH-LOAD falco rmmod-failed"
		else
			echo "KBENCH-LOAD falco failed"
		fi
		;;
	scap)
		[ -e /scap.ko ] || return 0
		if insmod /scap.ko; then
			echo "KBENCH-LOAD scap ok"
			/kbench run scap "$SECONDS_PER_ROW" "$round"
			rmmod scap || echo "KBENCH-LOAD scap rmmod-failed"
		else
			echo "KBENCH-LOAD scap failed"
		fi
		;;
	esac
}

# warm-up, not reported: page in kbench, settle the emulator's code cache
/kbench run none 1 0 >/dev/null

r=1
while [ "$r" -le "$ROUNDS" ]; do
	case $((r % 3)) in
	1) order="none falco scap" ;;
	2) order="falco scap none" ;;
	*) order="scap none falco" ;;
	esac
	for m in $order; do
		row "$m" "$r"
	done
	r=$((r + 1))
done
echo "KBENCH-DONE"
