/*
 * tls.h -- TLS on a connection (OpenSSL 3 with memory BIOs), for the
 * listeners the config marks `tls`.
 *
 * The socket stays libuv's: conn.c reads ciphertext into the loop's
 * buffer and hands it to ch_tls_feed, which puts it into the SSL's read
 * BIO, runs the handshake or decrypts, and feeds the plaintext to the
 * connection's protocol (c->proto->feed) exactly as a plain connection's
 * bytes, so HTTP and WebSocket code never know.  Output is encrypted when
 * conn.c writes (ch_tls_encrypt): the queued plaintext goes through
 * SSL_write into the write BIO and the ciphertext is written with one
 * uv_write.  Handshake records, alerts and session tickets produced while
 * reading are written at once (their own uv_write; libuv keeps the order
 * of a stream's writes).  Nothing here blocks: OpenSSL only ever sees
 * memory.
 *
 * The handshake is bounded by the deadline of a fresh HTTP connection
 * (handshake_timeout: no complete request yet).  A failed handshake (a
 * plain HTTP request, a garbage ClientHello, no common protocol) closes
 * that connection only: logged at info, counted
 * (chanhost_tls_handshake_failures_total).
 *
 * Contexts: ch_tls_ctx_new loads a certificate and key into a new
 * SSL_CTX (TLS 1.2 minimum, Mozilla's "intermediate" ciphers, ALPN
 * http/1.1, no renegotiation, session tickets on).  Each connection's SSL
 * holds a reference to the context it was made with, so a reload swaps in
 * a new context for new connections while the open ones keep theirs.
 */
#ifndef CH_TLS_H
#define CH_TLS_H

#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "conn.h"

/* Make a server context from the PEM files cert (the chain, leaf first)
 * and key (both borrowed); cert_where / key_where ("FILE:LINE", borrowed)
 * name the directives in messages.  Returns a new context (free with
 * ch_tls_ctx_free), or NULL with one line per problem added to diag
 * (missing or unreadable file, bad PEM, key not matching the
 * certificate).  Reads files: call it off the loop or before it runs. */
void *ch_tls_ctx_new(const char *cert, const char *cert_where, const char *key,
                     const char *key_where, ch_diag *diag);

/* Drop the caller's reference to ctx (connections keep theirs); NULL is
 * ignored. */
void ch_tls_ctx_free(void *ctx);

/* Make c a TLS connection under ctx (borrowed; c's SSL takes its own
 * reference), before any byte is read.  Returns 0 or -ENOMEM (logged). */
int ch_tls_attach(ch_conn *c, void *ctx);

/* Ciphertext arrived on c (data borrowed: the loop's read buffer, reused
 * here for the plaintext): run the handshake or hand the plaintext to
 * c->proto->feed.  May close c. */
void ch_tls_feed(ch_conn *c, const char *data, size_t len);

/* Decrypt and feed what is already buffered (records that arrived while
 * c was not reading); conn.c calls it once reading resumes. */
void ch_tls_pump(ch_conn *c);

/* Non-zero while c has received bytes not yet decrypted and fed. */
int ch_tls_buffered(const ch_conn *c);

/* Non-zero once c's handshake completed (output may be written). */
int ch_tls_ready(const ch_conn *c);

/* Encrypt bufs[0..n) (borrowed) and, if closing is set, a close_notify
 * after them; the ciphertext goes into a new block of `head` bytes of
 * header room followed by the data (malloc'd: the caller frees the
 * block), its length into *len.  Returns the block, or NULL (out of
 * memory or an SSL error, logged: the caller closes c). */
char *ch_tls_encrypt(ch_conn *c, const uv_buf_t *bufs, unsigned n, int closing, size_t head,
                     size_t *len);

/* Free c's TLS state (conn.c, when c is freed). */
void ch_tls_free(ch_conn *c);

#endif
