/*
 * config.js -- the client's connection tunables and where they come from.
 * Owns the defaults of the seeds (heartbeat ping every 25 s, pong within
 * 10 s, reconnection backoff 1 s doubling up to 30 s, 10 attempts) and
 * their overrides from the page's query string, so that tests need not
 * wait 25 s:
 *
 *   ?hb=2000    heartbeat interval, ms        ?pt=1000    pong timeout, ms
 *   ?ct=3000    connect (handshake) timeout   ?bo=500     first backoff delay
 *   ?bmax=4000  longest backoff delay         ?retry=5000 unacked resend, ms
 */

export const defaults = Object.freeze({
  heartbeatMs: 25000,
  pongTimeoutMs: 10000,
  connectTimeoutMs: 10000,
  backoffBaseMs: 1000,
  backoffMaxMs: 30000,
  maxAttempts: 10,
  resendMs: 5000,
});

const PARAMS = {
  hb: 'heartbeatMs',
  pt: 'pongTimeoutMs',
  ct: 'connectTimeoutMs',
  bo: 'backoffBaseMs',
  bmax: 'backoffMaxMs',
  retry: 'resendMs',
};

/* The defaults with the query string's positive integer overrides. */
function fromQuery(search) {
  const query = new URLSearchParams(search);
  const out = { ...defaults };
  for (const [param, key] of Object.entries(PARAMS)) {
    const v = Number(query.get(param));
    if (query.has(param) && Number.isInteger(v) && v > 0) out[key] = v;
  }
  return Object.freeze(out);
}

export const settings = fromQuery(globalThis.location ? location.search : '');
