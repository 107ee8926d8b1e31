/*
 * rest_login.h -- what the assembler needs of the API's login protection
 * (rest_login.c: the login limiter and the password-hash queue; the
 * calls the API's handlers use are in rest.h).
 */
#ifndef CH_REST_LOGIN_H
#define CH_REST_LOGIN_H

/* Free the login limiter's table (app.c, when the host is freed; no
 * request is left by then).  The next login would make a new one. */
void ch_rest_login_fini(void);

#endif
