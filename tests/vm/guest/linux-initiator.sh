#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs INSIDE the test VM (tests/vm/run-vm.sh): the Linux kernel iSCSI initiator
# (open-iscsi) against idmd over TCP (iscsi_tcp), or over iSER (ib_iser on a Soft-RoCE
# device, rdma_rxe) when IDM_GUEST_TRANSPORT=iser (linux-initiator-iser.sh sets it;
# digests do not apply to iSER, so that run does the None and CHAP rounds). idmd serves a file LUN on 198.18.0.1,
# an address on a dummy interface that exists only in the guest. For each digest
# setting (None, then CRC32C for header and data): log in, make an ext4 file system,
# copy a tree of files, record checksums, log out, log in again, fsck, compare the
# checksums, log out, check that the LUN's backing file holds the same files.
# Prints one "RESULT NAME: PASS|FAIL [why]" line per step and exits 0 only when every
# step passed and idmd exited 0 on SIGTERM.
#
# The step functions run through step(), which shellcheck cannot follow:
# shellcheck disable=SC2317
set -uo pipefail

ADDR=198.18.0.1
PORT=3260
PORTAL=$ADDR:$PORT
IQN=iqn.2026-11.org.idm:vm-tcp
LUN_MIB=256
LUN_IMG=/tmp/lun0.img
OUT=${IDM_VM_OUT:-/tmp}
MNT=/mnt/lun
TREE=/tmp/tree   # the files copied to the LUN (a copy, so the source cannot change)
SUMS=/tmp/tree.sha256

TRANSPORT=${IDM_GUEST_TRANSPORT:-tcp}
IFACE=()          # iscsiadm's interface arguments: the iSER iface when TRANSPORT=iser
[[ $TRANSPORT == iser ]] && IFACE=(-I iser0)
IDMD_EXTRA=()    # more idmd options (CHAP) for the next start_idmd
CTL=/tmp/idmd.sock # idmd's control socket, for idmadm
IDMD_PID=
ISCSID_PID=
DISK=

# shellcheck source=tests/vm/guest/lib.sh
. "$(dirname "$0")/lib.sh"

iscsi() { timeout -k 5 120 iscsiadm "$@"; }

# setup_net: the target's address on a dummy interface (no network leaves the VM).
setup_net() {
	modprobe dummy &&
		ip link add idm0 type dummy &&
		ip addr add "$ADDR/24" dev idm0 &&
		ip link set idm0 up &&
		if [[ $TRANSPORT == iser ]]; then
			# Soft-RoCE on the dummy interface: a real verbs device for both sides
			modprobe -a rdma_rxe ib_uverbs rdma_ucm ib_iser &&
				rdma link add rxe0 type rxe netdev idm0 && ibv_devices
		fi
}

# start_idmd: idmd with a file LUN, in the background; wait until it listens.
start_idmd() {
	local i
	truncate -s "${LUN_MIB}M" "$LUN_IMG" || return 1
	ulimit -l unlimited # iSER registers memory
	idmd --portal "$PORTAL" --target "$IQN" --lun "file:$LUN_IMG:${LUN_MIB}M" \
		--control-socket "$CTL" "${IDMD_EXTRA[@]}" >>"$OUT/idmd.log" 2>&1 </dev/null &
	IDMD_PID=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "$IDMD_PID" 2>/dev/null || { cat "$OUT/idmd.log"; IDMD_PID=; return 1; }
		ss -Hltn "sport = :$PORT" | grep -q . && return 0
		sleep 0.2
	done
	return 1
}

# stop_idmd: SIGTERM; idmd must exit 0 within 20 s.
stop_idmd() {
	local i rc
	[[ -n $IDMD_PID ]] || return 1
	kill -TERM "$IDMD_PID"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$IDMD_PID" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$IDMD_PID" 2>/dev/null; then
		echo "idmd still running 20 s after SIGTERM"
		kill -KILL "$IDMD_PID"
		wait "$IDMD_PID"
		IDMD_PID=
		return 1
	fi
	wait "$IDMD_PID"
	rc=$?
	IDMD_PID=
	echo "idmd exit status $rc"
	return "$rc"
}

# start_iscsid: no systemd here; setsid, because iscsid signals its process group on exit.
start_iscsid() {
	local i
	modprobe -a iscsi_tcp sd_mod || return 1
	setsid iscsid -f >"$OUT/iscsid.log" 2>&1 </dev/null &
	ISCSID_PID=$!
	# ready once its (abstract) control socket for iscsiadm listens
	for ((i = 0; i < 50; i++)); do
		ss -Hlx | grep -q ISCSIADM_ABSTRACT_NAMESPACE && iser_iface && return 0
		kill -0 "$ISCSID_PID" 2>/dev/null || { cat "$OUT/iscsid.log"; return 1; }
		sleep 0.2
	done
	return 1
}

# iser_iface: for TRANSPORT=iser, the iscsiadm interface whose sessions use ib_iser.
iser_iface() {
	[[ $TRANSPORT == iser ]] || return 0
	iscsiadm -m iface -I iser0 -o new >/dev/null &&
		iscsiadm -m iface -I iser0 -o update -n iface.transport_name -v iser
}

# check_transport: the session really runs over the transport under test, and idmd
# offered iSER on the portal when that is the one.
check_transport() {
	iscsiadm -m session | tee /tmp/sessions.txt &&
		grep -q "^$TRANSPORT: " /tmp/sessions.txt &&
		if [[ $TRANSPORT == iser ]]; then grep -q 'iSER and TCP' "$OUT/idmd.log"; fi
}

discover() {
	iscsi -m discovery -t sendtargets -p "$PORTAL" "${IFACE[@]}" | tee /tmp/discovery.txt &&
		grep -q "^$PORTAL,[0-9]* $IQN\$" /tmp/discovery.txt
}

login() { iscsi -m node -T "$IQN" -p "$PORTAL" "${IFACE[@]}" --login; }
logout() { iscsi -m node -T "$IQN" -p "$PORTAL" "${IFACE[@]}" --logout; }

# node_set NAME VALUE: one setting of the node record (used by the next login).
node_set() { iscsi -m node -T "$IQN" -p "$PORTAL" "${IFACE[@]}" -o update -n "$1" -v "$2"; }

# set_digests DIGEST: ask for DIGEST on headers and data at the next login.
set_digests() {
	node_set 'node.conn[0].iscsi.HeaderDigest' "$1" &&
		node_set 'node.conn[0].iscsi.DataDigest' "$1"
}

idmd_alive() { kill -0 "$IDMD_PID" 2>/dev/null; }

# wait_disk: print the sdX the kernel attached for our session (no udevd: devtmpfs only).
wait_disk() {
	local i d
	for ((i = 0; i < 60; i++)); do
		d=$(iscsiadm -m session -P3 2>/dev/null |
			awk '/Attached scsi disk/ { print $4; exit }')
		if [[ -n $d && -b /dev/$d ]]; then
			echo "$d"
			return 0
		fi
		sleep 1
	done
	return 1
}

# check_digests WANT: the session negotiated WANT for both header and data digests.
check_digests() {
	iscsiadm -m session -P2 | tee /tmp/session.txt | grep -E 'HeaderDigest|DataDigest'
	grep -q "HeaderDigest: $1" /tmp/session.txt && grep -q "DataDigest: $1" /tmp/session.txt
}

# make_tree: tens of MiB of real files (kernel modules and docs) to copy to the LUN.
make_tree() {
	local mods
	mods=(/usr/lib/modules/*/kernel)
	mkdir -p "$TREE" &&
		cp -a "${mods[0]}/fs" "$TREE/" &&
		cp -a /usr/share/doc "$TREE/doc" &&
		du -sh "$TREE" && find "$TREE" -type f | wc -l
}

write_tree() {
	local disk=$1
	mkfs.ext4 -q -F "/dev/$disk" &&
		mkdir -p "$MNT" && mount "/dev/$disk" "$MNT" &&
		cp -a "$TREE" "$MNT/tree" &&
		sync &&
		(cd "$MNT" && find tree -type f -print0 | sort -z | xargs -0 sha256sum) >"$SUMS" &&
		umount "$MNT"
}

verify_tree() {
	local disk=$1
	fsck.ext4 -n -f "/dev/$disk" &&
		mount "/dev/$disk" "$MNT" &&
		(cd "$MNT" && sha256sum --quiet -c "$SUMS") &&
		[[ $(wc -l <"$SUMS") == $(find "$MNT/tree" -type f | wc -l) ]] &&
		umount "$MNT"
}

# verify_backing: with every session logged out, the LUN's backing file itself (mounted
# read-only through a loop device) holds the same files: the data really reached idmd's
# store, not only the initiator's cache.
verify_backing() {
	modprobe loop &&
		mount -o ro,loop "$LUN_IMG" "$MNT" &&
		(cd "$MNT" && sha256sum --quiet -c "$SUMS")
	local rc=$?
	umount "$MNT" 2>/dev/null
	return "$rc"
}

# cleanup_session: after a failed step, leave nothing mounted or logged in.
cleanup_session() {
	umount "$MNT" 2>/dev/null
	logout >/dev/null 2>&1
}

# attach NAME: wait for the disk of the session just logged in; report it as NAME.
attach() {
	if DISK=$(wait_disk); then
		result "$1" PASS "/dev/$DISK"
		return 0
	fi
	result "$1" FAIL "no /dev/sdX within 60 s of login"
	return 1
}

# round DIGEST [PREFIX]: the whole login/write/logout/login/verify/logout cycle with
# DIGEST (None or CRC32C) for both header and data digests, its steps named
# PREFIX+DIGEST; stops at the first failed step.
round() {
	local dg=${2:-}$1
	DISK=
	if step "${dg}_node_digests" set_digests "$1" &&
		step "${dg}_login" login && attach "${dg}_disk" &&
		step "${dg}_transport" check_transport &&
		step "${dg}_negotiated" check_digests "$1" &&
		step "${dg}_mkfs_copy_sync" write_tree "$DISK" &&
		step "${dg}_logout" logout &&
		step "${dg}_login_again" login && attach "${dg}_disk_again" &&
		step "${dg}_fsck_compare" verify_tree "$DISK" &&
		step "${dg}_logout_again" logout &&
		step "${dg}_backing_file" verify_backing; then
		return 0
	fi
	cleanup_session
	return 1
}

# lun_disk LUN: the sdX the kernel attached for LUN of our session, or nothing.
lun_disk() {
	iscsiadm -m session -P3 2>/dev/null |
		awk -v lun="$1" '/Lun: / { on = ($NF == lun) } on && /Attached scsi disk/ { print $4; exit }'
}

# wait_size LUN BYTES: the kernel's size of LUN's disk becomes BYTES (30 s at most).
wait_size() {
	local i d
	for ((i = 0; i < 30; i++)); do
		d=$(lun_disk "$1")
		[[ -n $d && -b /dev/$d && $(blockdev --getsize64 "/dev/$d") == "$2" ]] && return 0
		sleep 1
	done
	echo "LUN $1: disk '${d:-}' size $([[ -n ${d:-} ]] && blockdev --getsize64 "/dev/$d"), not $2"
	return 1
}

adm() { timeout -k 5 60 idmadm --socket "$CTL" "$@"; }

# live_admin: while a session is in, idmadm adds a LUN (the kernel sees it after
# iscsiadm --rescan) and grows LUN 0 (blockdev shows the new size, no logout); the
# added LUN goes again at the end.
live_admin() {
	local grown=$(((LUN_MIB + 64) << 20))
	if step live_login login && attach live_disk &&
		step live_lun_add adm lun add "$IQN" mem:96M --lun 1 &&
		step live_rescan_add iscsi -m session --rescan &&
		step live_lun_seen wait_size 1 $((96 << 20)) &&
		step live_lun_resize adm lun resize "$IQN" 0 "$grown" &&
		step live_rescan_resize iscsi -m session --rescan &&
		step live_resize_seen wait_size 0 "$grown" &&
		step live_same_session bash -c "iscsiadm -m session | grep -c . | grep -qx 1" &&
		step live_logout logout &&
		step live_lun_remove adm lun remove "$IQN" 1; then
		return 0
	fi
	cleanup_session
	return 1
}

# libiscsi_iser_idmd CONF: idmd from a JSON configuration, in the background (as
# start_idmd, which takes the command-line options instead).
libiscsi_iser_idmd() {
	local i
	ulimit -l unlimited
	idmd --config "$1" >>"$OUT/idmd.log" 2>&1 </dev/null &
	IDMD_PID=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "$IDMD_PID" 2>/dev/null || { IDMD_PID=; return 1; }
		ss -Hltn "sport = :$PORT" | grep -q . && return 0
		sleep 0.2
	done
	return 1
}

# libiscsi_iser: a second iSER initiator, libiscsi's (user space), against the same
# portal: iscsi-inq, then libiscsi's conformance tests of INQUIRY, READ(10) and WRITE(10)
# on a scratch memory LUN. libiscsi 1.19's iSER counts immediate data in a SCSI Command's
# DataSegmentLength but sends the headers alone (lib/iser.c, iser_send_command), which
# idmd rightly refuses; so that idmd runs with immediate_data off (as tgtd answers
# ImmediateData=No on iSER), and every WRITE's data comes by RDMA Read from the buffer
# the command advertises. The usual idmd comes back for the rounds after this one.
# libiscsi_cu ARGS...: iscsi-test-cu, run again once when the client itself died of a
# signal. libiscsi 1.19's iSER client allocates a read's buffer with iscsi_malloc but
# frees a small one with iscsi_sfree (lib/iser.c: iser_prepare_read_cmd,
# iscsi_iser_free_pdu), so its small-allocation cache hands that buffer out again as a
# larger one; now and then glibc aborts ("munmap_chunk(): invalid pointer") before a
# test has run. A test's verdict is never retried: a second crash or any failure stands.
libiscsi_cu() {
	local rc
	timeout -k 5 120 iscsi-test-cu "$@"
	rc=$?
	if ((rc > 128 && rc != 124 + 128)); then
		echo "NOTE: iscsi-test-cu died of signal $((rc - 128)) (libiscsi heap bug); once more"
		timeout -k 5 120 iscsi-test-cu "$@"
		rc=$?
	fi
	return "$rc"
}

libiscsi_iser() {
	local conf=/tmp/idmd-libiscsi.json t
	local tests=(Inquiry.Standard Inquiry.EVPD Inquiry.MandatoryVPDSBC Inquiry.SupportedVPD
		Inquiry.VersionDescriptors Read10.Simple Read10.BeyondEol Read10.ZeroBlocks
		Read10.ReadProtect Read10.DpoFua Write10.Simple Write10.BeyondEol Write10.ZeroBlocks
		Write10.WriteProtect Write10.DpoFua)
	step libiscsi_iser_inq timeout -k 5 60 iscsi-inq "iser://$ADDR:$PORT/$IQN/0"
	step libiscsi_iser_idmd_stop stop_idmd || return 1
	cat >"$conf" <<-EOF
		{ "portals": [ { "addr": "$ADDR", "port": $PORT } ],
		  "targets": [ { "iqn": "$IQN", "luns": [ { "lun": 0, "spec": "mem:64M" } ] } ],
		  "tunables": { "immediate_data": false } }
	EOF
	step libiscsi_iser_idmd_start libiscsi_iser_idmd "$conf" || return 1
	for t in "${tests[@]}"; do
		step "libiscsi_iser_cu_${t/./_}" libiscsi_cu --dataloss -t "ALL.$t" \
			"iser://$ADDR:$PORT/$IQN/0"
	done
	# Bugs of libiscsi 1.19's iSER initiator, whatever the target (lib/iser.c); these four
	# fail the same way against tgtd 1.0.85's iSER target:
	local why="libiscsi iSER takes the allocation length as the Data-In size and ignores"
	why+=" the residual (iser_prepare_read_cmd sets indata.size = expxferlen)"
	echo "RESULT libiscsi_iser_cu_Inquiry_AllocLength: SKIP ($why)"
	echo "RESULT libiscsi_iser_cu_Inquiry_BlockLimits: SKIP ($why)"
	why="libiscsi iSER has 256 Send descriptors (NUM_MRS) and dereferences NULL on the"
	why+=" 257th command in flight; the test queues 1000"
	echo "RESULT libiscsi_iser_cu_Read10_Async: SKIP ($why)"
	echo "RESULT libiscsi_iser_cu_Write10_Async: SKIP ($why)"
	step libiscsi_iser_idmd_stop_scratch stop_idmd
	step libiscsi_iser_idmd_restart start_idmd
}

# chap_node USER SECRET [TUSER TSECRET]: CHAP (mutual with the target pair) for the
# next login, strongest algorithm first.
chap_node() {
	node_set node.session.auth.authmethod CHAP &&
		node_set node.session.auth.chap_algs SHA3-256,SHA256,SHA1,MD5 &&
		node_set node.session.auth.username "$1" &&
		node_set node.session.auth.password "$2" &&
		node_set node.session.auth.username_in "${3:-}" &&
		node_set node.session.auth.password_in "${4:-}"
}

# refused: the login must fail and leave no session behind.
refused() {
	! login && ! iscsiadm -m session >/dev/null 2>&1
}

# chap: idmd again, now demanding mutual CHAP: a full round with the right secrets,
# then a wrong initiator secret and a wrong target secret must both be refused.
chap() {
	local user=vmuser secret=initiator-secret-1 tuser=vmtarget tsecret=target-secret-22
	step chap_idmd_stop stop_idmd || return 1
	IDMD_EXTRA=(--chap "$user:$secret" --mutual-chap "$tuser:$tsecret")
	step chap_idmd_start start_idmd || return 1
	step chap_node chap_node "$user" "$secret" "$tuser" "$tsecret" || return 1
	round None CHAP_
	step chap_bad_secret_node chap_node "$user" wrong-secret-333 "$tuser" "$tsecret" &&
		step chap_bad_secret_refused refused
	step chap_bad_target_node chap_node "$user" "$secret" "$tuser" wrong-target-4444 &&
		step chap_bad_target_refused refused
	step chap_no_secret_in_log bash -c "! grep -E '$secret|$tsecret' '$OUT/idmd.log'"
	# open-iscsi offered SHA3-256 first (chap_algs above): idmd must have taken it
	step chap_sha3_256_used grep -q 'normal session .*, CHAP SHA3-256$' "$OUT/idmd.log"
	step chap_node_restore chap_node "$user" "$secret" "$tuser" "$tsecret" &&
		chap_each_alg
}

# chap_alg ALG NAME: mutual CHAP restricted to ALG (open-iscsi's name); idmd's session
# line must name NAME.
chap_alg() {
	node_set node.session.auth.chap_algs "$1" && login &&
		tail -n 3 "$OUT/idmd.log" | grep -q "normal session .*, CHAP $2\$" && logout
}

chap_each_alg() {
	step chap_alg_sha256 chap_alg SHA256 SHA-256
	step chap_alg_sha1 chap_alg SHA1 SHA-1
	step chap_alg_md5 chap_alg MD5 MD5
}

echo "guest: $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ { print $2 / 1024 " MiB" }' /proc/meminfo)"
if step net setup_net && step idmd_start start_idmd && step iscsid start_iscsid &&
	step tree make_tree && step discovery discover; then
	round None
	if command -v idmadm >/dev/null; then
		live_admin
	fi
	if [[ $TRANSPORT == iser ]]; then
		libiscsi_iser # (digests are forced None on iSER: no CRC32C round)
	else
		round CRC32C
	fi
	chap
	step idmd_alive idmd_alive
fi
if [[ -n $IDMD_PID ]]; then
	step idmd_sigterm stop_idmd
fi
[[ -n $ISCSID_PID ]] && kill -TERM "$ISCSID_PID" 2>/dev/null
if ((failures == 0)); then
	echo "RESULT all: PASS"
	exit 0
fi
echo "RESULT all: FAIL ($failures failed)"
exit 1
