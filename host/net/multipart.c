/*
 * multipart.c -- the streaming multipart/form-data parser of multipart.h.
 * Owns nothing beyond the caller's ch_multipart.
 *
 * The body is a preamble, then parts each introduced by the delimiter
 * "\r\n--BOUNDARY" (the first one may lack the "\r\n"), then "--" after
 * the last delimiter and an epilogue.  Delimiters are matched byte by
 * byte across pieces: the bytes of a partial match are held back (they
 * are the delimiter's own, so nothing needs keeping), and given out as
 * data when the match fails.  A boundary holds no CR (RFC 2046), so a
 * failed match can only restart at the byte that failed.
 */
#include "multipart.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum { S_PREAMBLE, S_AFTER, S_HEADERS, S_DATA, S_END };

/* RFC 2046's bchars. */
static const char bchars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "'()+_,-./:=? ";

/* Find parameter boundary= in a Content-Type value (case-insensitive name,
 * after a ';'); returns its value's start or NULL. */
static const char *find_boundary(const char *v)
{
    for (const char *p = strchr(v, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1 + strspn(p + 1, " \t");

        if (strncasecmp(q, "boundary=", 9) == 0)
            return q + 9;
    }
    return NULL;
}

int ch_mp_boundary(const char *content_type, char *out)
{
    const char *v = content_type ? find_boundary(content_type) : NULL;
    size_t n;

    if (!v)
        return -1;
    if (*v == '"') {
        v++;
        n = strcspn(v, "\"");
        if (v[n] != '"')
            return -1;
    } else {
        n = strcspn(v, "; \t");
    }
    if (n == 0 || n > CH_MP_BOUNDARY_MAX || strspn(v, bchars) < n || v[n - 1] == ' ')
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

void ch_mp_init(ch_multipart *m, const char *boundary, const ch_mp_events *ev, void *arg)
{
    size_t n = strlen(boundary);

    memset(m, 0, sizeof *m);
    if (n > CH_MP_BOUNDARY_MAX)
        n = CH_MP_BOUNDARY_MAX;
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, n);
    m->delim_len = n + 4;
    m->matched = 2; /* the body may start with the delimiter's "--" */
    m->state = S_PREAMBLE;
    m->ev = ev;
    m->arg = arg;
}

int ch_mp_done(const ch_multipart *m) { return m->state == S_END; }

/* The value of header name in the block of lines (NUL-terminated in
 * place), or "". */
static const char *header(char *block, const char *name)
{
    size_t n = strlen(name);

    for (char *line = block; *line; line += strlen(line) + 1) {
        if (strncasecmp(line, name, n) == 0 && line[n] == ':')
            return line + n + 1 + strspn(line + n + 1, " \t");
    }
    return "";
}

/* The header block is complete (it ends with the blank line): split it
 * into NUL-terminated lines and tell begin. */
static int headers_done(ch_multipart *m)
{
    ch_mp_part part;
    size_t i, o = 0;

    for (i = 0; i + 2 <= m->headers_len; i++) { /* "\r\n" -> NUL, lines kept */
        if (m->headers[i] == '\r' && m->headers[i + 1] == '\n') {
            m->headers[o++] = '\0';
            i++;
        } else {
            m->headers[o++] = m->headers[i];
        }
    }
    m->headers[o] = '\0';
    part.disposition = header(m->headers, "content-disposition");
    part.content_type = header(m->headers, "content-type");
    m->state = S_DATA;
    m->matched = 0;
    return m->ev->begin ? m->ev->begin(m->arg, &part) : 0;
}

/* One byte of a part's header block. */
static int header_byte(ch_multipart *m, char c)
{
    if (m->headers_len >= CH_MP_HEADERS_MAX || c == '\0')
        return -1;
    m->headers[m->headers_len++] = c;
    if ((m->headers_len == 2 && memcmp(m->headers, "\r\n", 2) == 0) ||
        (m->headers_len >= 4 && memcmp(m->headers + m->headers_len - 4, "\r\n\r\n", 4) == 0))
        return headers_done(m);
    return 0;
}

/* One byte after a delimiter: "--" ends the body; blanks then CRLF start
 * a part's headers. */
static int after_byte(ch_multipart *m, char c)
{
    if (m->after == 0 && (c == ' ' || c == '\t'))
        return 0;
    if (m->after == 0 && (c == '-' || c == '\r')) {
        m->after = c == '-' ? 1 : 2;
        return 0;
    }
    if (m->after == 1 && c == '-') {
        m->state = S_END;
        return 0;
    }
    if (m->after == 2 && c == '\n') {
        m->state = S_HEADERS;
        m->headers_len = 0;
        return 0;
    }
    return -1;
}

/* Data of the current part (dropped in the preamble). */
static int emit(ch_multipart *m, const char *p, size_t n)
{
    if (n == 0 || m->state != S_DATA || !m->ev->data)
        return 0;
    return m->ev->data(m->arg, p, n);
}

/* A delimiter was matched whole: the part (if any) ends. */
static int delimiter_seen(ch_multipart *m)
{
    int was_data = m->state == S_DATA;

    m->state = S_AFTER;
    m->after = 0;
    m->matched = 0;
    return was_data && m->ev->end ? m->ev->end(m->arg) : 0;
}

int ch_mp_feed(ch_multipart *m, const char *data, size_t len)
{
    size_t i, run = 0; /* data[run..] not given out yet */
    int rc;

    /* After an event's non-zero value m is left alone: it may be freed. */
    for (i = 0; i < len; i++) {
        char c = data[i];

        if (m->state == S_END)
            return 0;
        if (m->state == S_AFTER || m->state == S_HEADERS) {
            if ((rc = m->state == S_AFTER ? after_byte(m, c) : header_byte(m, c)) != 0)
                return rc;
            run = i + 1;
            continue;
        }
        if (c == m->delim[m->matched]) {
            if (m->matched == 0 && (rc = emit(m, data + run, i - run)) != 0)
                return rc; /* the plain bytes before it */
            run = i + 1;
            if (++m->matched == m->delim_len && (rc = delimiter_seen(m)) != 0)
                return rc;
            continue;
        }
        if (m->matched > 0) { /* a failed match: its bytes were data */
            size_t k = m->matched;

            m->matched = 0;
            if ((rc = emit(m, m->delim, k)) != 0)
                return rc;
            run = i;
            if (c == m->delim[0]) {
                m->matched = 1;
                run = i + 1;
            }
        }
    }
    if (m->matched == 0 && (m->state == S_DATA || m->state == S_PREAMBLE))
        return emit(m, data + run, len - run);
    return 0;
}
