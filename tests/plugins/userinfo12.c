/*
 * userinfo12.c -- userinfo.c built as a plugin for SDK 1.2: it declares
 * minor 2 and reaches the 1.3 calls only through CHANHOST_API_HAS.
 */
#define USERINFO_MINOR 2
#define USERINFO_NAME "userinfo12"
#include "userinfo.c"
