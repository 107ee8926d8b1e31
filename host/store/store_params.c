/*
 * store_params.c -- the checks of a store operation's parameters, shared
 * by every operation table (store_impl.h: ch_pspec, ch_st_check,
 * ch_st_default): each parameter's type and range, and the defaults.
 * Moved here unchanged from store_schema.c, which keeps the data model.  Nothing here is owned
 * beyond a call: parameters are the request's (borrowed), a default's
 * value is stolen.
 */
#include "store_impl.h"

#include "chanhost_kit.h" /* chk_utf8_chars, shared with the plugins */

#include <stdio.h>
#include <string.h>

/* Every element of array v is an integer >= 1. */
static int all_ids(const json_t *v)
{
    size_t i;
    json_t *e;

    json_array_foreach(v, i, e)
    {
        if (!json_is_integer(e) || json_integer_value(e) < 1)
            return 0;
    }
    return 1;
}

/* Does the present value v fit p?  (See ch_pspec.) */
static int fits(const ch_pspec *p, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);

    switch (p->type) {
    case 'i':
        return json_is_integer(v) && json_integer_value(v) >= p->min &&
               json_integer_value(v) <= p->max;
    case 's':
        return s && strlen(s) == len && (int64_t)chk_utf8_chars(s, len) >= p->min &&
               (int64_t)chk_utf8_chars(s, len) <= p->max;
    case 'B':
        return s && (int64_t)len <= p->max;
    case 'b':
        return json_is_boolean(v);
    case 'o':
        return json_is_object(v);
    case 'a':
        return json_is_array(v) && (int64_t)json_array_size(v) >= p->min &&
               (int64_t)json_array_size(v) <= p->max && all_ids(v);
    default:
        return 0;
    }
}

/* What p expects, for an error message ("an integer in [1, 9]"). */
static void expected(const ch_pspec *p, char *buf, size_t n)
{
    long long lo = (long long)p->min, hi = (long long)p->max;

    switch (p->type) {
    case 'i':
        snprintf(buf, n, "an integer in [%lld, %lld]", lo, hi);
        break;
    case 's':
        snprintf(buf, n, "a string of %lld to %lld characters", lo, hi);
        break;
    case 'B':
        snprintf(buf, n, "a string of at most %lld bytes", hi);
        break;
    case 'a':
        snprintf(buf, n, "an array of %lld to %lld ids", lo, hi);
        break;
    default:
        snprintf(buf, n, "%s", p->type == 'b' ? "true or false" : "an object");
    }
}

/* Check each parameter of spec in order; the first misfit fails the
 * request with a reason naming the parameter and what was expected. */
int ch_st_check(ch_store_req *req, const ch_pspec *spec)
{
    char want[80];

    for (const ch_pspec *p = spec; p->name; p++) {
        json_t *v = json_object_get(req->params, p->name);

        if (!v || json_is_null(v)) {
            if (p->required)
                return ch_store_fail(req, CH_STORE_EINVAL, "%s: missing", p->name);
            continue;
        }
        if (!fits(p, v)) {
            expected(p, want, sizeof want);
            return ch_store_fail(req, CH_STORE_EINVAL, "%s: expected %s", p->name, want);
        }
    }
    return 0;
}

void ch_st_default(ch_store_req *req, const char *name, json_t *v)
{
    json_t *old = json_object_get(req->params, name);

    if (!old || json_is_null(old))
        json_object_set_new(req->params, name, v);
    else
        json_decref(v);
}
