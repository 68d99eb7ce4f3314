#!/bin/sh
# initramfs of the embervol test VM: load what mounting the root disk needs, put the guest scripts in place
# (the root disk is a throwaway snapshot), then hand over to /embervol-init.
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
while read -r m; do /bin/busybox insmod "/modules/$m" 2>/dev/null; done </modules/order
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do
  [ -b /dev/vda ] && break
  /bin/busybox sleep 0.2
done
/bin/busybox mount -t ext4 -o rw /dev/vda /newroot || { echo "embervol-vm: cannot mount /dev/vda"; /bin/busybox sh; }
/bin/busybox cp /embervol-init /newroot/embervol-init
/bin/busybox cp /embervol-agent /newroot/usr/local/bin/embervol-agent
/bin/busybox umount /proc /sys
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /embervol-init
