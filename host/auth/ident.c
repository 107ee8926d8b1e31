/*
 * ident.c -- owns the compact form of a connection's user (ident.h): one
 * block with the id, the names, and the JSON form once it was asked for.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ident.h"

#include "log.h"

/* 1 if s is a JSON string without a NUL byte inside; adds its length and
 * NUL to *size. */
static int plain_string(const json_t *s, size_t *size)
{
    const char *v = json_string_value(s);

    if (!v || strlen(v) != json_string_length(s))
        return 0;
    *size += json_string_length(s) + 1;
    return 1;
}

/* Copy the string s (with its NUL) to p; returns the byte after it. */
static char *put(char *p, const char *s)
{
    size_t n = strlen(s) + 1;

    memcpy(p, s, n);
    return p + n;
}

ch_ident *ch_ident_new(const json_t *user)
{
    const json_t *id = json_object_get(user, "id"), *name = json_object_get(user, "username");
    const json_t *roles = json_object_get(user, "roles");
    size_t size = 0, i, n = json_array_size(roles);
    int compact;
    ch_ident *ident;
    char *p;

    if (!json_is_integer(id) || json_integer_value(id) <= 0 || !json_is_string(name) ||
        !json_is_array(roles))
        return NULL;
    compact = json_object_size(user) == 3 && plain_string(name, &size);
    for (i = 0; compact && i < n; i++)
        compact = plain_string(json_array_get(roles, i), &size);
    /* the names start at offsetof(names), inside the struct's tail
     * padding: a usual user fits a 48-byte heap chunk, not a 64-byte one */
    size = offsetof(ch_ident, names) + (compact ? size : 0);
    ident = calloc(1, size > sizeof *ident ? size : sizeof *ident);
    if (!ident)
        return NULL;
    ident->id = json_integer_value(id);
    if (!compact) {
        ident->json = json_incref((json_t *)user);
        return ident;
    }
    p = put(ident->names, json_string_value(name));
    for (i = 0; i < n; i++)
        p = put(p, json_string_value(json_array_get(roles, i)));
    ident->n_roles = (uint32_t)n;
    return ident;
}

const char *ch_ident_username(const ch_ident *ident)
{
    if (!ident)
        return NULL;
    return ident->json ? json_string_value(json_object_get(ident->json, "username")) : ident->names;
}

int ch_ident_has_role(const ch_ident *ident, const char *role)
{
    const json_t *roles;
    const char *p;
    size_t i;

    if (!ident || !role)
        return 0;
    if (ident->json) {
        roles = json_object_get(ident->json, "roles");
        for (i = 0; i < json_array_size(roles); i++) {
            p = json_string_value(json_array_get(roles, i));
            if (p && strcmp(p, role) == 0)
                return 1;
        }
        return 0;
    }
    p = ident->names + strlen(ident->names) + 1;
    for (i = 0; i < ident->n_roles; i++, p += strlen(p) + 1)
        if (strcmp(p, role) == 0)
            return 1;
    return 0;
}

const json_t *ch_ident_json(ch_ident *ident)
{
    json_t *roles;
    const char *p;

    if (!ident || ident->json)
        return ident ? ident->json : NULL;
    roles = json_array();
    p = ident->names + strlen(ident->names) + 1;
    for (uint32_t i = 0; roles && i < ident->n_roles; i++, p += strlen(p) + 1)
        if (json_array_append_new(roles, json_string(p)) != 0) {
            json_decref(roles);
            roles = NULL;
        }
    ident->json = roles ? json_pack("{s:I, s:s, s:o}", "id", (json_int_t)ident->id, "username",
                                    ident->names, "roles", roles)
                        : NULL;
    if (!ident->json)
        ch_log(CH_LOG_ERROR, "user %lld: no memory for the user's JSON", (long long)ident->id);
    return ident->json;
}

void ch_ident_free(ch_ident *ident)
{
    if (!ident)
        return;
    json_decref(ident->json);
    free(ident);
}
