/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI over TCP: state shared by the files of the transport.
 *   tcp.c     ops vector, connection setup/teardown, listener
 *   tcp_rx.c  resumable receive: BHS, AHS + header digest, data + digest
 *   tcp_tx.c  send queue flushed with sendmsg, Data-In, R2T
 */
#ifndef IDM_TCP_PRIV_H
#define IDM_TCP_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "idm/core_priv.h"

enum tcp_rx_phase {
	TCP_RX_BHS,  /* the 48-byte BHS */
	TCP_RX_AHS,  /* AHS, then the header digest when negotiated */
	TCP_RX_DATA, /* data segment, padding, data digest */
};

/* pdu->flags bits private to this transport: digests decided at queue time */
enum {
	TCP_PDU_HDIGEST = 1u << 16,
	TCP_PDU_DDIGEST = 1u << 17,
};

#define TCP_DISCARD_CHUNK 1024

/* Per-task state (the transport's task area): the R2T pump of a write. */
struct tcp_task {
	uint32_t rx_wanted; /* end offset asked for by buf_rx_from_ini; 0: none */
	uint32_t r2t_next;  /* next offset to solicit */
};

struct tcp_conn {
	struct idm_event_handler ev;
	struct idm_conn *c;
	int fd;
	uint32_t epoll_events;
	bool want_out;         /* PDUs wait for the socket: watch EPOLLOUT */
	bool dead;             /* disconnected: no more I/O */
	bool connecting;       /* initiator: connect() in progress */
	socklen_t peer_len;    /* initiator: length of c->peer_addr */
	bool hdigest, ddigest; /* negotiated digests in force (after login) */
	/* receive */
	enum tcp_rx_phase rx_phase;
	uint32_t rx_got;  /* bytes of the current phase already read */
	struct idm_rx rx; /* the PDU being read: BHS, AHS, destination, task */
	uint8_t rx_ahs[IDM_MAX_AHS_LEN + IDM_DIGEST_LEN];
	uint8_t rx_trailer[3 + IDM_DIGEST_LEN]; /* padding, data digest */
	uint32_t rx_trailer_len;
	uint8_t *rx_buf;          /* data of non-SCSI PDUs (buffer cache) */
	size_t rx_buf_cap;
	/* transmit */
	struct idm_pdu_fifo txq;
	uint32_t tx_head_sent; /* bytes of the head PDU already written */
	struct idm_deferred flush;
};

static inline struct tcp_conn *tcp_conn_of(const struct idm_conn *c)
{
	return c->transport_priv;
}

/* tcp.c */
void tcp_conn_fail(struct tcp_conn *tc, const char *why);
void tcp_want_out(struct tcp_conn *tc, bool on);

/* tcp_rx.c */
void tcp_rx_ready(struct tcp_conn *tc);
void tcp_rx_reset(struct tcp_conn *tc);

/* tcp_tx.c */
void tcp_tx_pdu(struct idm_conn *c, struct idm_pdu *pdu);
void tcp_flush(struct tcp_conn *tc);
void tcp_flush_deferred(struct idm_deferred *d);
void tcp_tx_drop_all(struct tcp_conn *tc, int status);
int tcp_buf_tx_to_ini(struct idm_task *t, uint32_t off, uint32_t len,
                      const struct idm_scsi_status *st);
int tcp_buf_rx_from_ini(struct idm_task *t, uint32_t len);
/* Data-Out progress (ops->data_out_placed): send more R2Ts, or finish
 * the receive (rx_done). */
void tcp_rx_progress(struct idm_task *t);

/* Bind an accepted (or test) socket to a new connection. */
int idm_tcp_conn_adopt(struct idm_conn *c, int fd);

#endif
