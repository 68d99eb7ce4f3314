#!/bin/bash
# PID 1 of the embervol test VM (no init system): mounts, udev, network (qemu user mode: 10.0.2.15, the
# host's loopback is 10.0.2.2), a fresh initiator name, iscsid, then the agent on the second serial port
# (/dev/ttyS1), which the test drives. Powers off when the agent ends.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/pts /dev/shm /run/lock
mount -t devpts devpts /dev/pts
mount -o remount,rw /
hostname embervol-test-vm
say() { echo "embervol-vm: $*" >/dev/ttyS0; }
say "init started"
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add >/dev/null 2>&1
udevadm settle --timeout=30 || true
for m in virtio_net iscsi_tcp sd_mod; do modprobe "$m"; done
ip link set lo up
nic=""
for i in $(seq 1 100); do
  nic="$(ls /sys/class/net | grep -vx lo | head -1)"
  [ -n "$nic" ] && break
  sleep 0.1
done
ip link set "$nic" up
ip addr add 10.0.2.15/24 dev "$nic"
ip route add default via 10.0.2.2
echo "InitiatorName=$(iscsi-iname -p iqn.1993-08.org.debian:01)" >/etc/iscsi/initiatorname.iscsi
mkdir -p /run/lock/iscsi
# iscsid in the foreground so its messages land in a file (there is no syslog here)
setsid iscsid -f -d "${EMBERVOL_ISCSID_DEBUG:-1}" >/var/log/iscsid.log 2>&1 </dev/null &
for i in $(seq 1 50); do iscsiadm -m session >/dev/null 2>&1; [ $? -ne 20 ] && break; sleep 0.1; done
say "ready for the agent"
python3 /usr/local/bin/embervol-agent /dev/ttyS1 >/dev/ttyS0 2>&1
say "agent ended, powering off"
sync
echo o >/proc/sysrq-trigger
sleep 10
