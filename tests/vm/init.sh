#!/bin/sh
# Stage 1 of the test VM: PID 1 in the initramfs (busybox sh).
#
# Builds the guest's root, sets up the kernel state every run shares (cgroup2, hostname,
# loopback, network), then hands PID 1 to busybox init on the new root, which runs stage2.sh
# (or, with VM_INIT=systemd, to systemd, whose airlock-vm-command.service runs it). This file
# is baked into the cached initramfs; what changes per boot (the repository's and the
# modules' paths, the network, the init) comes from vm.env in the host's run directory,
# shared as the 9p tag "io".
#
# Any failing step ends PID 1: the kernel panics and, with panic=-1 and QEMU's -no-reboot,
# the VM stops at once with the error on the console instead of hanging until the timeout.
set -eu
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
# One modprobe for all: every process start costs ~0.1 s under emulation.
modprobe -a $(cat /etc/modules-boot)

mkdir -p /io /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 io /io
. /io/vm.env

# The host's / read-only; a tmpfs on top takes the guest's writes and vanishes with it.
# cache=loose: the host's files do not change under a run, and cached lookups and pages make
# Python's start-up (hundreds of stat/open calls) several times faster than cache=none.
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose root /lower
mount -t tmpfs -o mode=0755 rw /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot

r=/newroot
mount --move /dev "$r/dev"
mount --move /proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount -t securityfs securityfs "$r/sys/kernel/security"
# nsdelegate: a delegated subtree is a boundary for its namespace (like systemd mounts it);
# memory_recursiveprot: memory.min/low apply to the whole subtree below.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 "$r/sys/fs/cgroup"
# The root cgroup may hold processes and still delegate: enable every controller it has.
read -r controllers < "$r/sys/fs/cgroup/cgroup.controllers"
for c in $controllers; do
    echo "+$c" > "$r/sys/fs/cgroup/cgroup.subtree_control"
done
mkdir -p "$r/dev/pts" "$r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
mount -t tmpfs -o mode=1777 shm "$r/dev/shm"
mount -t tmpfs -o mode=1777 tmp "$r/tmp"
# The host's /run (its sockets, pid files) means nothing in the guest.
mount -t tmpfs -o mode=0755 run "$r/run"
vm="$r/run/airlock-vm"
mkdir -p "$vm/io" "$vm/bin" "$r$VM_REPO" "$r/lib/modules/$(uname -r)"
mount --move /io "$vm/io"
# cache=none: what the guest writes is on the host when write() returns, before poweroff.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 repo "$r$VM_REPO"
# The kernel's whole module tree from the host's cache (through /lower: the cache may be
# under the host's /tmp, which the guest's own /tmp hides), so that modprobe in the guest
# (Docker's veth, bridge, netfilter) finds what the initramfs does not carry.
mount --bind "/lower$VM_MODULES" "$r/lib/modules/$(uname -r)"

hostname airlock-vm
# The host may be a container: its /.dockerenv would make systemd (and anything else that
# looks) take the VM for a Docker container.
rm -f "$r/.dockerenv"
ip link set lo up
if [ "$VM_NETWORK" = 1 ]; then
    # QEMU's user-mode network: fixed addresses, the host's 127.0.0.1 is 10.0.2.2.
    modprobe virtio_net
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
    # The host's resolv.conf may be a symlink into its /run: replace it in the overlay.
    rm -f "$r/etc/resolv.conf"
    echo "nameserver 10.0.2.3" > "$r/etc/resolv.conf"
fi

# The copy of busybox lives on the guest's tmpfs /run: switch_root empties the initramfs.
cp /bin/busybox /stage2.sh "$vm/bin/"
if [ "$VM_INIT" = systemd ]; then
    # systemd as PID 1 boots airlock-vm.target, whose command service runs stage2.sh. The
    # units go into the overlay's /etc, over the host's (which the guest sees read-only);
    # masked units would waste emulated time or reach for a network.
    echo airlock-vm > "$r/etc/hostname"
    units="$r/etc/systemd/system"
    mkdir -p "$units"
    cp /systemd/airlock-vm.target /systemd/airlock-vm-command.service "$units/"
    for unit in $(sed 's/#.*//' /systemd/masked); do
        ln -sfn /dev/null "$units/$unit"
    done
    # No generator: the host's fstab, sysv scripts, gettys and the like mean nothing here,
    # and each is a process start (~0.5 s) before systemd queues its first job.
    generators="$r/etc/systemd/system-generators"
    mkdir -p "$generators"
    for generator in "$r"/lib/systemd/system-generators/* "$r"/usr/lib/systemd/system-generators/*; do
        [ -e "$generator" ] && ln -sfn /dev/null "$generators/${generator##*/}"
    done
    exec switch_root "$r" /lib/systemd/systemd --unit=airlock-vm.target
fi
# busybox init as PID 1 (busybox sh would leave orphans as zombies): it runs stage2.sh and
# reaps every process reparented to it.
ln -s busybox "$vm/bin/init"
rm -f "$r/etc/inittab"
echo "::sysinit:/run/airlock-vm/bin/busybox sh /run/airlock-vm/bin/stage2.sh" > "$r/etc/inittab"
exec switch_root "$r" /run/airlock-vm/bin/init
