#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The Linux kernel's iSER initiator (ib_iser, over a Soft-RoCE device in the test VM)
# against idmd's iSER transport: discovery and login over iSER on the portal that also
# serves TCP, ext4 + copy + fsck + compare, mutual CHAP, SIGTERM; and libiscsi's
# user-space iSER initiator (iser://): iscsi-inq. The VM machinery
# and the checks are t_vm_linux_initiator.sh's.
here=$(cd "$(dirname "$0")" && pwd)
# Open bug (issue 4): under ASan timing a re-login after logout over iSER can time out
# (the initiator reports conn error 1011, then retries). It runs on the plain build
# until that is fixed; skipped, not hidden, under ASan.
if [[ ${IDMD:-} == *build-asan* ]]; then
	echo "SKIP: iSER re-login after logout intermittently times out under ASan (open bug, issue 4)"
	exit 77
fi
export TEST_NAME=${TEST_NAME:-t_vm_linux_iser}
export VM_GUEST_NAME=linux-initiator-iser
export VM_EXTRA_FILES="$here/../vm/guest/linux-initiator.sh"
export VM_REQUIRED="discovery None_login None_transport None_fsck_compare None_backing_file
	libiscsi_iser_inq
	CHAP_None_fsck_compare chap_bad_secret_refused chap_sha3_256_used idmd_sigterm all"
exec bash "$here/t_vm_linux_initiator.sh"
