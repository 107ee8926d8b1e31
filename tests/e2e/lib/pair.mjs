/*
 * pair.mjs -- the two-window set-up the chat suites share: a host, alice's
 * and bob's browsers with a ChatUI each (and, for the reconnect suites,
 * their thread made through the API and alice's WebSocket URLs recorded),
 * and the teardown that closes them and fails on an uncaught page error.
 */
import assert from 'node:assert/strict';
import { Host } from './host.mjs';
import { launch } from './browser.mjs';
import { ChatUI } from './chatui.mjs';

/* Fill p (the suite's object, filled as things start, so that stopPair
 * closes what did start) with host, alice, bob (from launch), A and B
 * (their ChatUIs).  opts.thread: alice and bob are created and their
 * thread made through the API first (p.room its room), alice's page
 * waits ten minutes before a retry (the test decides when she comes
 * back: Retry now) while bob's retries at once, and p.aliceSockets
 * collects the URL of every WebSocket alice's page opens. */
export async function startPair(p, opts = {}) {
  p.host = await Host.start();
  let query = ['', ''];
  if (opts.thread) {
    await p.host.createUser('alice');
    const bobUser = await p.host.createUser('bob');
    const { token } = await p.host.login('alice');
    ({ room: p.room } = await p.host.api('POST', '/api/threads/', { user_id: bobUser.id }, token));
    query = ['?bo=600000&bmax=600000', '?bo=250&bmax=1000'];
  }
  p.alice = await launch('alice');
  p.bob = await launch('bob');
  p.A = new ChatUI(p.alice, p.host, query[0]);
  p.B = new ChatUI(p.bob, p.host, query[1]);
  p.aliceSockets = [];
  p.alice.page.on('websocket', (ws) => p.aliceSockets.push(ws.url()));
}

/* Close the browsers and stop the host that startPair put in p (any of
 * them may be missing), then fail on the pages' uncaught errors. */
export async function stopPair(p) {
  await p.alice?.close();
  await p.bob?.close();
  await p.host?.stop();
  assert.deepEqual([...(p.alice?.errors ?? []), ...(p.bob?.errors ?? [])], [], 'uncaught errors in the pages');
}
