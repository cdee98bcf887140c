#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Runs INSIDE the test VM: linux-initiator.sh (passed beside this script) over iSER, the
# Linux kernel's ib_iser initiator on a Soft-RoCE device talking to idmd's iSER
# transport on the same portal that serves TCP.
export IDM_GUEST_TRANSPORT=iser
exec bash "$(dirname "$0")/linux-initiator.sh"
