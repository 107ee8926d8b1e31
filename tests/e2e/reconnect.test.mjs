/*
 * reconnect.test.mjs -- the connection behaviour of seeds 001 and 004
 * against a host that dies: kill -9 mid-conversation, the status turns
 * yellow, a message typed meanwhile waits as pending (with its
 * client_msg_id), and after the restart it is delivered exactly once
 * while ?since= brings what was missed; ten failed attempts end in red
 * with a clear message; a host that stops answering pings (SIGSTOP) is
 * found dead by the heartbeat.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot } from './lib/browser.mjs';
import { ChatUI } from './lib/chatui.mjs';
import { startPair, stopPair } from './lib/pair.mjs';

const STEP = { timeout: 120000 };
const RECOVERY_MS = 30000;
const DOWN = 'typed while the host was down';
const MISSED = 'sent while alice was away';

describe('reconnecting after the host dies', () => {
  const p = {};
  let host;
  let alice;
  let A;
  let B;
  let room;
  let aliceSockets;

  /* alice's page waits ten minutes before its first retry, so the test
   * decides when she comes back (Retry now); bob's retries quickly. */
  before(async () => {
    await startPair(p, { thread: true });
    ({ host, alice, A, B, room, aliceSockets } = p);
  });

  after(() => stopPair(p));

  test('alice and bob are chatting', STEP, async () => {
    await A.logIn('alice');
    await B.logIn('bob');
    await A.openRoom('bob');
    await B.openRoom('alice');
    await A.send('before the crash');
    await B.once('before the crash');
    const dot = await A.status().locator('.dot').evaluate((n) => getComputedStyle(n).backgroundColor);
    assert.equal(dot, 'rgb(30, 142, 62)', 'green');
  });

  test('kill -9: the status turns yellow; a message typed now waits', STEP, async () => {
    await host.kill();
    await A.waitStatus('reconnecting');
    await B.waitStatus('reconnecting');
    assert.equal(await A.status().textContent(), 'Reconnecting…');
    const dot = await A.status().locator('.dot').evaluate((n) => getComputedStyle(n).backgroundColor);
    assert.equal(dot, 'rgb(249, 171, 0)', 'yellow');
    await A.banner().filter({ hasText: /attempt 1 of 10/ }).waitFor();

    await A.send(DOWN);
    await A.tickState(DOWN, 'pending');
    const queued = await A.page.evaluate(() => Object.entries(sessionStorage)
      .filter(([k]) => k.startsWith('chanhost.outbox.')).map(([, v]) => JSON.parse(v)).flat());
    assert.equal(queued.length, 1);
    assert.equal(queued[0].text, DOWN);
    assert.match(queued[0].client_msg_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await screenshot(A.page, 'reconnect-01-host-down-pending');
  });

  test('restart: bob reconnects on his own and writes', STEP, async () => {
    await host.restart();
    await B.waitStatus('connected', RECOVERY_MS);
    await B.send(MISSED);
    await B.tickState(MISSED, 'stored');
    assert.equal(await A.count(MISSED), 0, 'alice is still away');
  });

  test('alice comes back: ?since= brings what she missed, her message goes out once', STEP, async () => {
    const lastSeen = await A.msg('before the crash').getAttribute('data-id');
    await A.banner().getByRole('button', { name: 'Retry now' }).click();
    await A.waitStatus('connected');
    await A.once(MISSED);
    await B.once(DOWN);
    await A.tickState(DOWN, 'read');      /* acked, and bob has the room open */
    await A.once(DOWN);
    await A.once('before the crash');
    assert.ok(aliceSockets.some((u) => u.includes(`/ws/threads/${room.id}/?since=${lastSeen}`)),
      `a reconnect asked for ?since=${lastSeen}: ${aliceSockets.join(' ')}`);

    const { token } = await host.login('alice');
    const { messages } = await host.api('GET', `/api/rooms/${room.id}/messages/`, undefined, token);
    assert.equal(messages.filter((m) => m.message === DOWN).length, 1, 'stored exactly once');
    assert.equal(await A.page.evaluate(() => Object.keys(sessionStorage)
      .filter((k) => k.startsWith('chanhost.outbox.')).length), 0, 'the queue is empty');
    await screenshot(A.page, 'reconnect-02-delivered-once');

    await A.page.reload();
    await A.title('bob');
    await A.waitStatus('connected');
    await A.once(DOWN);
    await B.once(DOWN);
  });

  test('ten failed attempts end in red with a clear message', STEP, async () => {
    const quick = new ChatUI(alice, host, '?bo=20&bmax=40&ct=2000');
    await quick.open(`#/room/${room.id}`);
    await quick.waitStatus('connected');
    await host.kill();
    await quick.waitStatus('disconnected');
    await quick.banner().filter({ hasText: 'Could not reconnect after 10 attempts.' }).waitFor();
    const dot = await quick.status().locator('.dot').evaluate((n) => getComputedStyle(n).backgroundColor);
    assert.equal(dot, 'rgb(217, 48, 37)', 'red');
    await screenshot(alice.page, 'reconnect-03-gave-up');

    await host.restart();
    await quick.banner().getByRole('button', { name: 'Reconnect' }).click();
    await quick.waitStatus('connected');
    await quick.once(DOWN);
  });

  test('a host that stops answering pings is treated as dead', STEP, async () => {
    const beating = new ChatUI(alice, host, '?hb=400&pt=600&ct=1000&bo=200&bmax=500');
    const opened = alice.page.waitForEvent('websocket', { predicate: (ws) => ws.url().includes('/ws/threads/') });
    await beating.open(`#/room/${room.id}`);
    const ws = await opened;
    await beating.waitStatus('connected');
    await ws.waitForEvent('framesent', { predicate: (f) => f.payload === '{"type":"ping"}' });
    await ws.waitForEvent('framereceived', { predicate: (f) => f.payload === '{"type":"pong"}' });

    host.pause();
    await beating.waitStatus('reconnecting');
    await beating.banner().filter({ hasText: 'The server stopped answering.' }).waitFor();
    await screenshot(alice.page, 'reconnect-04-no-pong');
    host.resume();
    await beating.waitStatus('connected', RECOVERY_MS);
    await beating.once(DOWN);

    const defaults = await alice.page.evaluate(async () => (await import('/msg/ui/js/config.js')).defaults);
    assert.equal(defaults.heartbeatMs, 25000);
    assert.equal(defaults.pongTimeoutMs, 10000);
    assert.equal(defaults.backoffBaseMs, 1000);
    assert.equal(defaults.maxAttempts, 10);
  });
});
