/*
 * fuzz_ws_frames.c -- the WebSocket frame path: client bytes through the
 * real ws.c (wslay's receive with the host's callbacks, the message size
 * limit, close handshake, protocol errors, the output queue) on an
 * accepted connection (fake_ws.h echoes each message), fed whole and
 * then in pieces.  Owns nothing across inputs.
 */
#include "fake_conn.h"
#include "fake_ws.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t chunks[2] = {0, 1 + size % 7};

    for (int i = 0; i < 2; i++) {
        ch_conn *c = fz_conn_new();

        fz_ws_open(c);
        fz_conn_feed(c, data, size, chunks[i], NULL);
        fz_conn_finish(c);
    }
    return 0;
}
