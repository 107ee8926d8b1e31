/*
 * layer_names.c -- owns the rule for the channel layer's names (layer.h):
 * Channels' characters and length for group names, and the one '!' a
 * channel name may hold.  No state.
 */
#include "layer.h"

#include <stddef.h>

/* Channels' name characters: ASCII letters, digits, '-', '_', '.'. */
static const unsigned char name_chars[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1, ['_'] = 1, ['.'] = 1,
};

/* Length of the run of name characters at s, stopping at CH_NAME_MAX. */
static size_t name_span(const char *s)
{
    size_t n = 0;

    while (n < CH_NAME_MAX && name_chars[(unsigned char)s[n]])
        n++;
    return n;
}

int ch_layer_valid_group(const char *name)
{
    size_t n = name ? name_span(name) : 0;

    return n >= 1 && n < CH_NAME_MAX && name[n] == '\0';
}

int ch_layer_valid_channel(const char *name)
{
    size_t n = name ? name_span(name) : 0;

    if (n == 0)
        return 0;
    if (name[n] == '!' && n + 1 < CH_NAME_MAX)
        n += 1 + name_span(name + n + 1);
    return n < CH_NAME_MAX && name[n] == '\0';
}
