/*
 * no_descriptor.c -- a test plugin that exports no chanhost_plugin_descriptor.
 *
 * It is a perfectly loadable shared object with an exported function of
 * another name; the host must refuse it with a line naming the missing
 * symbol.
 */
#include "chanhost.h"

__attribute__((visibility("default"))) int chanhost_plugin_entry(void);

__attribute__((visibility("default"))) int chanhost_plugin_entry(void) { return 42; }
