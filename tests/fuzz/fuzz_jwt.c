/*
 * fuzz_jwt.c -- auth/auth.c's tokens: the input verified as a token as
 * it is (what any client can send); and, when it holds a newline, its
 * two lines as the JOSE header and the claims of a token this target
 * signs with the host's secret, so that the code after the signature
 * check (claims, exp, the user: ch_auth_user) sees arbitrary JSON too.
 * Claims that parse as an object are also signed with ch_jwt_sign and
 * must verify back to equal claims when their exp lies ahead.  Owns
 * nothing across inputs.
 */
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "b64.h"
#include "fuzz.h"

#define NOW 1700000000

static const unsigned char secret[] = "fuzz-secret-0123456789abcdef";

/* Verify token; a token that verifies must give an object with exp. */
static void verify(const char *token)
{
    const char *why = NULL;
    json_t *claims = ch_jwt_verify(token, secret, sizeof secret - 1, NOW, &why), *user;

    if (!claims) {
        FZ_CHECK(why != NULL);
        return;
    }
    FZ_CHECK(json_is_object(claims) && json_is_number(json_object_get(claims, "exp")));
    user = ch_auth_user(claims);
    if (user)
        FZ_CHECK(json_integer_value(json_object_get(user, "id")) > 0);
    json_decref(user);
    json_decref(claims);
}

/* header.claims signed with the secret (new malloc'd string). */
static char *sign_raw(const char *head, size_t hn, const char *claims, size_t cn)
{
    unsigned char mac[32];
    unsigned int mac_len = sizeof mac;
    size_t n = CH_B64_ENCODED_SIZE(hn) + CH_B64_ENCODED_SIZE(cn) + CH_B64_ENCODED_SIZE(32) + 2;
    char *token = malloc(n), *p = token;

    FZ_CHECK(token != NULL);
    p += ch_b64_encode_into(head, hn, CH_B64_URL, p);
    *p++ = '.';
    p += ch_b64_encode_into(claims, cn, CH_B64_URL, p);
    FZ_CHECK(HMAC(EVP_sha256(), secret, sizeof secret - 1, (const unsigned char *)token,
                  (size_t)(p - token), mac, &mac_len) != NULL);
    *p++ = '.';
    ch_b64_encode_into(mac, mac_len, CH_B64_URL, p);
    return token;
}

/* Claims JSON signed by the host: an exp in the future and not past
 * CH_JWT_EXP_MAX (auth.h: any other exp is a malformed token) must
 * verify back. */
static void sign_claims(const char *text, size_t n)
{
    json_t *claims = json_loadb(text, n, 0, NULL), *exp, *back;
    const char *why = NULL;
    char *token;

    if (!json_is_object(claims) || !(token = ch_jwt_sign(claims, secret, sizeof secret - 1))) {
        json_decref(claims);
        return;
    }
    back = ch_jwt_verify(token, secret, sizeof secret - 1, NOW, &why);
    exp = json_object_get(claims, "exp");
    if (json_is_integer(exp) && json_integer_value(exp) > NOW &&
        json_integer_value(exp) <= CH_JWT_EXP_MAX)
        FZ_CHECK(back != NULL && json_equal(back, claims));
    json_decref(back);
    json_decref(claims);
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *nl;

    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    verify(text);
    nl = memchr(text, '\n', size);
    if (nl) {
        char *token = sign_raw(text, (size_t)(nl - text), nl + 1, size - (size_t)(nl + 1 - text));

        verify(token);
        free(token);
        sign_claims(nl + 1, size - (size_t)(nl + 1 - text));
    }
    free(text);
    return 0;
}
