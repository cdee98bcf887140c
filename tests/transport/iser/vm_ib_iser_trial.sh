#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Manual trial (not run by meson): the Linux ib_iser initiator against idmd over Soft-RoCE, inside the
# VM of /work/shared/vm (run-vm.sh THIS_SCRIPT PAYLOAD_DIR, with PAYLOAD_DIR/idmd and PAYLOAD_DIR/lib/
# holding libisal, liburing, libjson-c, libcrypto - plus libasan/libubsan/libstdc++ for an ASan build).
# It needs idmd to open an iSER portal next to the TCP one: until the target wires idm_iser_transport,
# the trial used a local, uncommitted patch in src/target/server.c that did so when IDM_TRIAL_ISER is set.
# Passed on 2026-11-24 (ASan build): discovery, login, 16 MiB write/read/compare, 4 KiB reads,
# 4 parallel writers/readers, logout with a write in flight, re-login, logout.
# iSER trial: Linux ib_iser initiator against idmd over Soft-RoCE (local, manual).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ulimit -l unlimited
RDMA_IP=198.18.0.1
P=/t/payload
result() { echo "RESULT $1: $2"; }
modprobe -a iscsi_tcp sd_mod sg
setsid iscsid -f >/tmp/iscsid.log 2>&1 &
modprobe -a rdma_rxe ib_uverbs rdma_ucm ib_iser
ip link add rxenet type dummy && ip addr add $RDMA_IP/24 dev rxenet && ip link set rxenet up
rdma link add rxe0 type rxe netdev rxenet && ibv_devices
truncate -s 64M /tmp/lun.img
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 IDM_TRIAL_ISER=1 LD_LIBRARY_PATH=$P/lib $P/idmd --portal $RDMA_IP:3260 --target iqn.2026-11.test:idm --lun file:/tmp/lun.img --reactors 2 >/tmp/idmd.log 2>&1 & T=$!
sleep 3
iscsiadm -m iface -I iser0 -o new >/dev/null
iscsiadm -m iface -I iser0 -o update -n iface.transport_name -v iser
timeout 60 iscsiadm -m discovery -t sendtargets -p $RDMA_IP:3260 -I iser0 && result discovery PASS || result discovery FAIL
timeout 120 iscsiadm -m node -T iqn.2026-11.test:idm -p $RDMA_IP:3260 -I iser0 --login && result login PASS || result login FAIL
d=""
for i in $(seq 30); do
  d=$(iscsiadm -m session -P3 2>/dev/null | awk '/Attached scsi disk/{print $4}' | head -1)
  [ -n "$d" ] && [ -b /dev/$d ] && break; sleep 1
done
if [ -n "$d" ]; then
  dd if=/dev/urandom of=/tmp/pat bs=1M count=16 status=none
  timeout 300 dd if=/tmp/pat of=/dev/$d bs=1M oflag=direct conv=fsync status=none && result write PASS || result write FAIL
  timeout 300 dd if=/dev/$d of=/tmp/rb bs=1M count=16 iflag=direct status=none && result read PASS || result read FAIL
  cmp -s /tmp/pat /tmp/rb && cmp -s -n $((16<<20)) /tmp/pat /tmp/lun.img && result data PASS || result data FAIL
  timeout 120 dd if=/dev/$d of=/dev/null bs=4k count=256 iflag=direct status=none && result read4k PASS || result read4k FAIL
  for k in 0 1 2 3; do timeout 40 dd if=/tmp/pat of=/dev/$d bs=64k count=64 skip=$((k*64)) seek=$((k*64)) oflag=direct status=none & PIDS="$PIDS $!"; done; wait $PIDS; PIDS=""
  result pwrite DONE
  for k in 0 1 2 3; do timeout 40 dd if=/dev/$d of=/tmp/rb$k bs=16k count=256 skip=$((k*256)) iflag=direct status=none & PIDS="$PIDS $!"; done; wait $PIDS; PIDS=""
  cat /tmp/rb0 /tmp/rb1 /tmp/rb2 /tmp/rb3 | cmp -s - /tmp/pat && result parallel PASS || result parallel FAIL
  (dd if=/dev/urandom of=/dev/$d bs=1M count=64 oflag=direct status=none; true) & DD=$!
  sleep 2
  timeout 60 iscsiadm -m node -T iqn.2026-11.test:idm -p $RDMA_IP:3260 -I iser0 --logout && result logout_busy PASS || result logout_busy FAIL
  wait $DD
  timeout 120 iscsiadm -m node -T iqn.2026-11.test:idm -p $RDMA_IP:3260 -I iser0 --login && result relogin PASS || result relogin FAIL
else
  result disk "FAIL (no disk)"
fi
iscsiadm -m session -P2 2>/dev/null | sed -n '/Negotiated iSCSI params/,$p' | head -16
timeout 60 iscsiadm -m node -T iqn.2026-11.test:idm -p $RDMA_IP:3260 -I iser0 --logout && result logout PASS || result logout FAIL
sleep 1
kill $T; sleep 5; kill -9 $T 2>/dev/null
echo "---- idmd log"; grep -v "NOP\|op 0x40\|sent 0" /tmp/idmd.log | tail -150
echo "---- dmesg"; dmesg | grep -i "iser\|rxe\|iscsi" | tail -30
