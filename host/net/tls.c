/*
 * tls.c -- owns each TLS connection's state (struct ch_tls: its SSL and
 * the two memory BIOs the SSL owns) and the server contexts made from the
 * configured certificate and key.  See tls.h for how conn.c uses it.
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "app.h"
#include "log.h"
#include "metrics.h"

/* Mozilla's "intermediate" TLS 1.2 ciphers (TLS 1.3 keeps OpenSSL's
 * defaults, which are the same list's). */
#define CH_TLS12_CIPHERS                                         \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

/* A BIO buffer grown past this by one large write is replaced once empty,
 * so an idle connection does not keep the memory of its largest burst. */
#define CH_TLS_BIO_KEEP (64 * 1024)

struct ch_tls {
    SSL *ssl;           /* owns both BIOs (SSL_set_bio) */
    unsigned ready : 1; /* handshake complete */
};

/* The reason of OpenSSL's last error (a static string), and the error
 * queue cleared. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r ? r : "unknown TLS error";
}

/* --- contexts --------------------------------------------------------- */

/* ALPN: http/1.1 if the client offers it; otherwise no ALPN answer (a
 * client offering only h2 then fails on its own terms). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Can path be opened for reading?  If not, one line in diag. */
static int readable(const char *path, const char *directive, const char *where, ch_diag *diag)
{
    FILE *f = fopen(path, "r");

    if (!f) {
        ch_diag_add(diag, "%s: %s %s: cannot read: %s", where, directive, path, strerror(errno));
        return -1;
    }
    (void)fclose(f);
    return 0;
}

/* The settings every context gets (tls.h). */
static int ctx_settings(SSL_CTX *ctx)
{
    static const unsigned char sid[] = "chanhost";

    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return SSL_CTX_set_dh_auto(ctx, 1) == 1 &&
           SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
           SSL_CTX_set_cipher_list(ctx, CH_TLS12_CIPHERS) == 1 &&
           SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1) == 1;
}

void *ch_tls_ctx_new(const char *cert, const char *cert_where, const char *key,
                     const char *key_where, ch_diag *diag)
{
    SSL_CTX *ctx;
    int bad = 0;

    if (readable(cert, "tls_certificate", cert_where, diag) < 0)
        bad = 1;
    if (readable(key, "tls_certificate_key", key_where, diag) < 0)
        bad = 1;
    if (bad)
        return NULL;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !ctx_settings(ctx)) {
        ch_diag_add(diag, "%s: cannot set up TLS: %s", cert_where, ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ch_diag_add(diag, "%s: tls_certificate %s: not a PEM certificate (%s)", cert_where, cert,
                    ssl_reason());
        bad = 1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        (!bad && SSL_CTX_check_private_key(ctx) != 1)) {
        int mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH ||
                       SSL_CTX_get0_privatekey(ctx) != NULL;

        if (mismatch)
            ch_diag_add(diag, "%s: tls_certificate_key %s does not match the certificate %s (%s)",
                        key_where, key, cert, ssl_reason());
        else
            ch_diag_add(diag, "%s: tls_certificate_key %s: not a PEM private key (%s)", key_where,
                        key, ssl_reason());
        bad = 1;
    }
    if (bad) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void ch_tls_ctx_free(void *ctx) { SSL_CTX_free(ctx); }

/* --- one connection ----------------------------------------------------- */

int ch_tls_attach(ch_conn *c, void *ctx)
{
    ch_tls *t = calloc(1, sizeof *t);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());

    if (!t || !rb || !wb || !(t->ssl = SSL_new(ctx))) {
        ch_log(CH_LOG_ERROR, "connection [%s]: out of memory for TLS", ch_conn_peer(c));
        BIO_free(rb);
        BIO_free(wb);
        free(t);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_mem_eof_return(rb, -1); /* empty: "retry", not end of file */
    BIO_set_mem_eof_return(wb, -1);
    SSL_set_bio(t->ssl, rb, wb);
    SSL_set_accept_state(t->ssl);
    c->tls = t;
    return 0;
}

void ch_tls_free(ch_conn *c)
{
    if (!c->tls)
        return;
    SSL_free(c->tls->ssl);
    free(c->tls);
    c->tls = NULL;
}

int ch_tls_buffered(const ch_conn *c)
{
    return c->tls && (SSL_pending(c->tls->ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(c->tls->ssl)));
}

int ch_tls_ready(const ch_conn *c) { return c->tls && c->tls->ready; }

/* Replace an empty BIO whose buffer grew past CH_TLS_BIO_KEEP. */
static void bio_trim(SSL *ssl, int write_side)
{
    BIO *b = write_side ? SSL_get_wbio(ssl) : SSL_get_rbio(ssl), *nb;
    BUF_MEM *bm = NULL;

    if (BIO_ctrl_pending(b) || BIO_get_mem_ptr(b, &bm) != 1 || !bm || bm->max <= CH_TLS_BIO_KEEP)
        return;
    if (!(nb = BIO_new(BIO_s_mem())))
        return; /* keep the large one */
    BIO_set_mem_eof_return(nb, -1);
    if (write_side)
        SSL_set0_wbio(ssl, nb);
    else
        SSL_set0_rbio(ssl, nb);
}

/* Take the ciphertext waiting in the write BIO into a new block of head
 * bytes of room followed by the data (caller frees); its length into
 * *len.  NULL if there is none (and !always) or out of memory. */
static char *take_output(ch_tls *t, size_t head, int always, size_t *len)
{
    BIO *wb = SSL_get_wbio(t->ssl);
    size_t n = BIO_ctrl_pending(wb);
    char *block;

    *len = 0;
    if (n == 0 && !always)
        return NULL;
    if (!(block = malloc(head + n)))
        return NULL;
    if (n > 0 && BIO_read(wb, block + head, (int)n) != (int)n) {
        free(block);
        return NULL;
    }
    *len = n;
    bio_trim(t->ssl, 1);
    return block;
}

/* A write of handshake or alert records finished: free it. */
static void on_raw_write(uv_write_t *req, int status)
{
    ch_conn *c = req->data;

    free(req);
    if (status < 0)
        ch_conn_close(c);
}

/* Write what the SSL produced outside ch_tls_encrypt (handshake records,
 * alerts, tickets) at once. */
static void flush_raw(ch_conn *c)
{
    size_t len;
    char *block = take_output(c->tls, sizeof(uv_write_t), 0, &len);
    uv_write_t *req = (uv_write_t *)block;
    uv_buf_t b;

    if (!block)
        return;
    b = uv_buf_init(block + sizeof *req, (unsigned)len);
    req->data = c;
    if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_raw_write) != 0) {
        free(block);
        ch_conn_close(c);
        return;
    }
    ch_metric_add(CH_M_BYTES_OUT, len);
}

/* The SSL failed on c: send its alert if any, log, count and close. */
static void tls_fail(ch_conn *c, const char *what)
{
    const char *why = ssl_reason();

    if (!c->tls->ready) {
        ch_metric_count(CH_M_TLS_HANDSHAKE_FAILURES);
        ch_log(CH_LOG_INFO, "connection [%s]: TLS handshake failed: %s", ch_conn_peer(c), why);
    } else {
        ch_log(CH_LOG_DEBUG, "connection [%s]: TLS %s failed: %s", ch_conn_peer(c), what, why);
    }
    flush_raw(c);
    ch_conn_close(c);
}

/* Continue the handshake.  Returns 1 once complete, 0 while it waits for
 * the client, -1 if c was closed. */
static int handshake(ch_conn *c)
{
    ch_tls *t = c->tls;
    int r = SSL_do_handshake(t->ssl);

    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);

        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            flush_raw(c);
            return 0;
        }
        tls_fail(c, "handshake");
        return -1;
    }
    t->ready = 1;
    ch_metric_count(CH_M_TLS_HANDSHAKES);
    ch_log(CH_LOG_DEBUG, "connection [%s]: %s %s", ch_conn_peer(c), SSL_get_version(t->ssl),
           SSL_get_cipher_name(t->ssl));
    flush_raw(c);
    return c->closing ? -1 : 1;
}

/*
 * Decrypt into the loop's read buffer and feed the protocol while c wants
 * input (a protocol that stops reading leaves the rest in the SSL until
 * conn.c calls again).  A close_notify from the client closes c.
 */
void ch_tls_pump(ch_conn *c)
{
    ch_tls *t = c->tls;
    ch_app *app = c->app;
    int n;

    if (!t || c->closing || (!t->ready && handshake(c) <= 0))
        return;
    while (!c->closing && c->reading && !c->out_paused) {
        n = SSL_read(t->ssl, app->read_buf,
                     app->read_buf_size > INT32_MAX ? INT32_MAX : (int)app->read_buf_size);
        if (n <= 0) {
            int e = SSL_get_error(t->ssl, n);

            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            if (e == SSL_ERROR_ZERO_RETURN) { /* the client's close_notify */
                flush_raw(c);
                ch_conn_close(c);
            } else {
                tls_fail(c, "read");
            }
            return;
        }
        c->proto->feed(c, app->read_buf, (size_t)n);
    }
    if (!c->closing) {
        flush_raw(c);
        bio_trim(t->ssl, 0);
    }
}

void ch_tls_feed(ch_conn *c, const char *data, size_t len)
{
    ch_tls *t = c->tls;

    if (BIO_write(SSL_get_rbio(t->ssl), data, (int)len) != (int)len) {
        ch_log(CH_LOG_ERROR, "connection [%s]: out of memory reading TLS", ch_conn_peer(c));
        ch_conn_close(c);
        return;
    }
    ch_tls_pump(c);
}

char *ch_tls_encrypt(ch_conn *c, const uv_buf_t *bufs, unsigned n, int closing, size_t head,
                     size_t *len)
{
    ch_tls *t = c->tls;
    char *block;
    unsigned i;

    for (i = 0; i < n; i++) {
        if (bufs[i].len == 0)
            continue;
        if (SSL_write(t->ssl, bufs[i].base, (int)bufs[i].len) != (int)bufs[i].len) {
            ch_log(CH_LOG_DEBUG, "connection [%s]: TLS write failed: %s", ch_conn_peer(c),
                   ssl_reason());
            return NULL;
        }
    }
    if (closing)
        (void)SSL_shutdown(t->ssl); /* close_notify after the data */
    ERR_clear_error();
    block = take_output(t, head, 1, len);
    if (!block)
        ch_log(CH_LOG_ERROR, "connection [%s]: out of memory writing TLS", ch_conn_peer(c));
    return block;
}
