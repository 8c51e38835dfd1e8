#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only OR MIT
#
# In-VM alert check (copied into the initramfs by scripts/kmod_vm_test.sh
# --python, run by its /init): `falco run --driver kmod` with the project's
# own Python, reader and engine, while /kbench does real actions.
#
#   /pycheck.sh PYTHON RULES RING_BYTES READY_TIMEOUT
#
# The initramfs has no Python: the host's root filesystem is exported
# read-only by qemu (-virtfs ... mount_tag=hostroot,readonly=on), mounted
# on /host with 9p over virtio (modules listed in /lib/vm/order, from the
# booted kernel's own tree), given fresh proc, sys, dev and run, and
# falco runs chrooted there: the same interpreter, editable install and
# Cython extensions as on the host.  The actions run outside the chroot
# (the initramfs's /etc/shadow, busybox sh), so the host's own files are
# never read.
#
# Output: "KMODPY <what>" lines; falco's alerts as "KMODPY alert <line>",
# its log as "KMODPY log <line>"; last "KMODPY-DONE ready=<s> status=<s>".
PY=$1
RULES=$2
RING_BYTES=$3
READY_TIMEOUT=${4:-240}
H=/host

done_() {
	echo "KMODPY-DONE ready=${ready:--1} status=$1"
	exit 0
}

for m in $(cat /lib/vm/order); do
	insmod "/lib/vm/$m" 2>/tmp/insmod.err ||
		grep -q 'File exists' /tmp/insmod.err ||
		echo "KMODPY insmod $m failed: $(cat /tmp/insmod.err)"
done
mkdir -p $H
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro \
	hostroot $H 2>/tmp/mount.err; then
	echo "KMODPY mount 9p failed: $(cat /tmp/mount.err)"
	done_ mount-failed
fi
mount -t proc proc $H/proc
mount -t sysfs sys $H/sys
mount -t devtmpfs dev $H/dev
# /tmp stays the host's (read-only): the checkout or the interpreter (a
# CI venv, a clone) may live there.  falco writes nothing to it.
mount -t tmpfs run $H/run
# Tested inside the chroot: a venv's python is a symlink to an absolute path.
chroot $H /bin/sh -c "test -x '$PY'" ||
	{ echo "KMODPY no $PY on the host root"; done_ no-python; }

rmmod falco 2>/dev/null
if ! insmod /falco.ko ring_bytes="$RING_BYTES"; then
	echo "KMODPY insmod falco.ko failed"
	done_ insmod-failed
fi
START=$(date +%s)
chroot $H /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
	PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8 PYTHONFAULTHANDLER=1 \
	"$PY" -m falco run --driver kmod -r "$RULES" -U -M 600 \
	-o syslog_output.enabled=false \
	>/tmp/falco.out 2>/tmp/falco.err &
FPID=$!
ready=-1
while kill -0 $FPID 2>/dev/null; do
	if grep -q 'watching this host' /tmp/falco.err; then
		ready=$(($(date +%s) - START))
		break
	fi
	[ $(($(date +%s) - START)) -ge "$READY_TIMEOUT" ] && break
	sleep 1
done
echo "KMODPY falco ready after ${ready}s"
status=ok
if [ "$ready" -ge 0 ]; then
	/kbench actions
	# wait for the three alerts (at most 60 s), then stop falco
	t=0
	while [ $t -lt 60 ]; do
		n=0
		for what in shadow shell connect; do
			grep -q "KMODPY-RULE $what" /tmp/falco.out && n=$((n + 1))
		done
		[ $n -eq 3 ] && break
		sleep 1
		t=$((t + 1))
	done
else
	status=not-ready
fi
kill -INT $FPID 2>/dev/null
# Stopping closes the rings, and the module's release waits for the
# tracepoints to be unregistered: under TCG on a busy host that once took
# over 60 s (CI, stop 15).  Wait longer, and say how long it took.
t=0
while kill -0 $FPID 2>/dev/null && [ $t -lt 180 ]; do
	sleep 1
	t=$((t + 1))
	if [ $t -eq 60 ]; then
		# Still running a minute after SIGINT: where each thread waits,
		# in the kernel and (SIGABRT with PYTHONFAULTHANDLER) in Python.
		for task in /proc/$FPID/task/*; do
			echo "KMODPY stuck task ${task##*/}: $(cat $task/comm 2>/dev/null)" \
			     "state $(cut -d' ' -f3 $task/stat 2>/dev/null)" \
			     "wchan $(cat $task/wchan 2>/dev/null)"
			sed 's/^/KMODPY stuck   /' $task/stack 2>/dev/null
		done
		kill -ABRT $FPID 2>/dev/null
	fi
done
kill -KILL $FPID 2>/dev/null
wait $FPID
echo "KMODPY falco exit $? after ${t}s"
sed 's/^/KMODPY alert /' /tmp/falco.out
sed 's/^/KMODPY log /' /tmp/falco.err | tail -n 80
rmmod falco || echo "KMODPY rmmod falco failed"
umount $H/run $H/tmp $H/dev $H/sys $H/proc 2>/dev/null
umount $H 2>/dev/null
done_ $status
