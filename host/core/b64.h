/*
 * b64.h -- base64 (RFC 4648), the one implementation in the host: the
 * standard alphabet with '=' padding (sealed message content, key files,
 * password hashes) and the URL alphabet without padding (JSON Web
 * Tokens, RFC 7515 section 2).
 *
 * Decoding is strict in both alphabets: no whitespace, no characters of
 * the other alphabet, padding only where the standard form needs it, and
 * the unused low bits of the last character zero, so every byte string
 * has exactly one accepted encoding.  Pure functions: only
 * ch_b64_encode and ch_b64_decode allocate.
 */
#ifndef CH_B64_H
#define CH_B64_H

#include <stddef.h>

typedef enum ch_b64_alphabet {
    CH_B64_STD, /* A-Z a-z 0-9 + /, padded with '=' to a multiple of 4 */
    CH_B64_URL  /* A-Z a-z 0-9 - _, never padded */
} ch_b64_alphabet;

/* Room for the NUL-terminated base64 of n bytes (either alphabet). */
#define CH_B64_ENCODED_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Write the NUL-terminated base64 of in[0..n) (borrowed) into out
 * (borrowed), which has room for CH_B64_ENCODED_SIZE(n) bytes.  Returns
 * the length written, without the NUL.  No allocation. */
size_t ch_b64_encode_into(const void *in, size_t n, ch_b64_alphabet a, char *out);

/* The base64 of in[0..n) as a new malloc'd NUL-terminated string (the
 * caller frees it; OPENSSL_cleanse first when in was secret), or NULL when
 * memory is short or n is absurdly large. */
char *ch_b64_encode(const void *in, size_t n, ch_b64_alphabet a);

/* The number of bytes s[0..n) (borrowed) decodes to, or -1 when it is not
 * strict base64 of alphabet a. */
long ch_b64_decoded_len(const char *s, size_t n, ch_b64_alphabet a);

/* Decode s[0..n) (borrowed) into out (borrowed), which has room for
 * ch_b64_decoded_len(s, n, a) bytes.  Returns the decoded length, or -1
 * (out untouched) when s is malformed. */
long ch_b64_decode_into(const char *s, size_t n, ch_b64_alphabet a, unsigned char *out);

/* Decode s[0..n) (borrowed) into a new malloc'd buffer (the caller frees
 * it) with a NUL after the *len decoded bytes, or NULL when s is malformed
 * or memory is short. */
unsigned char *ch_b64_decode(const char *s, size_t n, ch_b64_alphabet a, size_t *len);

#endif
