#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The clients sit above the transport ops vector: neither the target nor
# the initiator includes a transport's header or calls its ops; they go
# through the core (include/idm/idm.h). Usage: layering.sh SOURCE_ROOT
root=${1:?source root}
bad=0
for dir in src/target src/initiator; do
	if grep -rnE '#[[:space:]]*include[[:space:]]*"transport/' "$root/$dir"; then
		echo "layering: $dir includes a transport's header (use the core's API)" >&2
		bad=1
	fi
	if grep -rnE 'transport->ops|->ops->(tx_pdu|buf_|svc_|ini_|conn_|negotiate_key|enable_datamover|rx_flow|data_out_placed)' "$root/$dir"; then
		echo "layering: $dir calls transport ops directly" >&2
		bad=1
	fi
	if grep -rnE 'idm_iser_(ini_)?transport|idm_tcp_transport' "$root/$dir"; then
		echo "layering: $dir names a transport (the core picks it)" >&2
		bad=1
	fi
done
exit $bad
