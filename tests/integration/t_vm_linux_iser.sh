#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The Linux kernel's iSER initiator (ib_iser, over a Soft-RoCE device in the test VM)
# against idmd's iSER transport: discovery and login over iSER on the portal that also
# serves TCP, ext4 + copy + fsck + compare, mutual CHAP, SIGTERM; and libiscsi's
# user-space iSER initiator (iser://): iscsi-inq and iscsi-test-cu's INQUIRY, READ(10)
# and WRITE(10) tests (the ones libiscsi 1.19's iSER can pass: the guest script says
# which it skips and why). The VM machinery and the checks are t_vm_linux_initiator.sh's.
here=$(cd "$(dirname "$0")" && pwd)
# One vCPU: the Debian 12 kernel's libiscsi hands a Login Response to iscsid (netlink)
# before it frees the connection's login task; under software emulation a vCPU can stall
# in between, iscsid's next Login PDU is refused ("Login/Text in progress. Cannot start
# new task") and ib_iser never recovers that session. With one vCPU the receive path
# runs to its end before iscsid can run. The TCP run keeps two vCPUs.
export IDM_VM_CPUS=${IDM_VM_CPUS:-1}
export TEST_NAME=${TEST_NAME:-t_vm_linux_iser}
export VM_GUEST_NAME=linux-initiator-iser
export VM_EXTRA_FILES="$here/../vm/guest/linux-initiator.sh"
export VM_REQUIRED="discovery None_login None_transport None_fsck_compare None_backing_file
	libiscsi_iser_inq
	libiscsi_iser_cu_Inquiry_Standard libiscsi_iser_cu_Inquiry_EVPD
	libiscsi_iser_cu_Inquiry_MandatoryVPDSBC libiscsi_iser_cu_Inquiry_SupportedVPD
	libiscsi_iser_cu_Inquiry_VersionDescriptors libiscsi_iser_cu_Read10_Simple
	libiscsi_iser_cu_Read10_BeyondEol libiscsi_iser_cu_Read10_ZeroBlocks
	libiscsi_iser_cu_Read10_ReadProtect libiscsi_iser_cu_Read10_DpoFua
	libiscsi_iser_cu_Write10_Simple libiscsi_iser_cu_Write10_BeyondEol
	libiscsi_iser_cu_Write10_ZeroBlocks libiscsi_iser_cu_Write10_WriteProtect
	libiscsi_iser_cu_Write10_DpoFua
	CHAP_None_fsck_compare chap_bad_secret_refused chap_sha3_256_used idmd_sigterm all"
exec bash "$here/t_vm_linux_initiator.sh"
