/*
 * seed004.test.mjs -- seed 004's client code, verbatim, in Chromium: two
 * fresh users (signed up a moment before, never added to any room) open
 * the group room /ws/chat/group/<name>/ by its URL with the seed's
 * connectWebSocket() (section 2.2) and its status indicator; the room
 * does not exist until the first of them connects.  Each then sends with
 * the seed's acknowledged-send snippet (section 1.1 B): the sender's ack
 * empties its pendingMessages, the other receives the chat_message in
 * the shape of section 3.1 B.  The snippets are the files of seed004/,
 * copied from the seed unchanged; the page around them declares what the
 * seed's chatPage.html does (roomName, username) and records frames.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Host } from './lib/host.mjs';
import { launch, screenshot, until } from './lib/browser.mjs';

const STEP = { timeout: 90000 };
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOM = 'seed-004-lounge';

function snippet(file) {
  return readFileSync(join(HERE, 'seed004', file), 'utf8');
}

/* The chat page: the seed's status indicator and connectWebSocket(),
 * with the seed page's roomName and username, and a recorder of every
 * frame the socket receives (an added listener: the seed's own handlers
 * stay as they are). */
function chatPage(username) {
  return ['<!doctype html><html><head><meta charset="utf-8"><title>chatPage</title></head><body>',
    snippet('status.html'),
    `<script>const roomName = ${JSON.stringify(ROOM)}; const username = ${JSON.stringify(username)};`,
    'window.received = [];</script>',
    `<script>${snippet('reconnect.js')}</script>`,
    "<script>chatSocket.addEventListener('message', (e) => window.received.push(JSON.parse(e.data)));</script>",
    '</body></html>'].join('\n');
}

/* Sign a fresh user up in their browser (the session cookie), then open
 * the chat page on the host's origin (a page the host served, its
 * document replaced: Chromium lets only such a page reach the host's
 * loopback address). */
async function openChat(user, host) {
  const res = await user.context.request.post(`${host.url}/api/auth/register/`, {
    data: { username: user.name, email: `${user.name}@example.com`, password: 'password123' },
  });
  assert.equal(res.status(), 201, await res.text());
  await user.page.goto(`${host.url}/healthz`);
  await user.page.setContent(chatPage(user.name));
  await until(user.page, 'the socket to open', () => chatSocket.readyState === WebSocket.OPEN);
  await until(user.page, 'the history', () => window.received.some((f) => f.type === 'history'));
}

/* The page's chat_message frames sent by `from`. */
function messagesFrom(page, from) {
  return page.evaluate((name) => window.received.filter((f) => f.type === 'chat_message' && f.username === name), from);
}

describe('seed 004: a group room by URL, two fresh users', () => {
  let host;
  let alice;
  let bob;

  before(async () => {
    host = await Host.start();
    alice = await launch('alice');
    bob = await launch('bob');
  });

  after(async () => {
    await alice?.close();
    await bob?.close();
    await host?.stop();
    assert.deepEqual([...(alice?.errors ?? []), ...(bob?.errors ?? [])], [], 'uncaught errors in the pages');
  });

  test('both open the room by its URL and are connected', STEP, async () => {
    await openChat(alice, host);
    await openChat(bob, host);
    for (const { page } of [alice, bob]) {
      assert.equal(await page.locator('#connection-status').textContent(), 'Connected');
      assert.equal(await page.evaluate(() => chatSocket.url), `ws://${new URL(host.url).host}/ws/chat/group/${ROOM}/`);
    }
    const { rooms } = await host.api('GET', '/api/rooms/', undefined, (await host.login('bob')).token);
    assert.deepEqual(rooms.map((r) => [r.key, r.is_open]), [[`group:${ROOM}`, true]]);
    await screenshot(alice.page, 'seed004-01-connected');
  });

  test('each sends with the seed\'s acknowledged send; the other receives it', STEP, async () => {
    for (const [sender, other] of [[alice, bob], [bob, alice]]) {
      await sender.page.addScriptTag({ content: snippet('ack.js') });
      const sent = await sender.page.evaluate(() => msgId);
      await until(sender.page, 'the ack', () => pendingMessages.size === 0);
      await until(other.page, `${sender.name}'s message`, (name) => window.received.some(
        (f) => f.type === 'chat_message' && f.username === name), sender.name);
      const [got] = await messagesFrom(other.page, sender.name);
      assert.equal(got.message, 'Hello');
      assert.equal(got.client_msg_id, sent);
      assert.equal(typeof got.id, 'number');
    }
    assert.equal((await messagesFrom(alice.page, 'alice')).length, 1, 'the sender gets its own message once');
    await screenshot(bob.page, 'seed004-02-messages');
  });
});
