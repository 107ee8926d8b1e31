/*
 * seeds.test.mjs -- the seeds' own client code, run verbatim in Chromium
 * against the real host (issue 15, parts 1 and 2).
 *
 * Seed 003's two snippets are read from seeds/ (copied byte for byte from
 * the seed document); only their ids are filled in, and `wss://` becomes
 * `ws://` because the test host speaks plain HTTP.  They run as classic
 * scripts in a page of the host's origin whose user logged in through the
 * API (the session cookie, as the seed's Django sessions), and what they
 * print with console.log is what is checked.  Seed 002 has no page of its
 * own: its documented pieces (the URL with ?token=, the "Bearer" token
 * subprotocol, {"type": "message", "text": "Hello"}) are put together as
 * its guide describes them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Host, SOURCE_DIR } from './lib/host.mjs';
import { launch, WAIT_MS } from './lib/browser.mjs';

const STEP = { timeout: 60000 };
const AD_ID = 123;

/* A seed snippet with its placeholders replaced (each must occur once). */
function seed(file, replacements) {
  let text = readFileSync(join(SOURCE_DIR, 'tests', 'e2e', 'seeds', file), 'utf8');
  for (const [from, to] of replacements) {
    assert.equal(text.split(from).length, 2, `${file}: "${from}" once`);
    text = text.replace(from, to);
  }
  return text;
}

/* A user's browser on a page of the host, logged in (session cookie)
 * unless login is false, with the console lines it prints: waitFor(line
 * or regex) resolves with the first such line printed (before or later). */
async function seedPage(host, username, login = true) {
  const user = await launch(username);
  const lines = [];
  const waiters = [];
  user.page.on('console', (msg) => {
    lines.push(msg.text());
    for (const w of waiters.filter((x) => x.match(msg.text()))) {
      waiters.splice(waiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(msg.text());
    }
  });
  user.waitFor = (want) => {
    const match = typeof want === 'string' ? (t) => t === want : (t) => want.test(t);
    if (lines.some(match)) return Promise.resolve(lines.find(match));
    return new Promise((resolve, reject) => {
      const w = { match, resolve };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`${username}: no console line ${want} in ${JSON.stringify(lines)}`));
      }, WAIT_MS);
      waiters.push(w);
    });
  };
  user.lines = lines;
  await user.page.goto(`${host.url}/chat-ws-test/`);
  if (!login) return user;
  const status = await user.page.evaluate(async (name) => (await fetch('/api/auth/login/', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: name, password: 'password123' }),
  })).status, username);
  assert.equal(status, 200);
  return user;
}

/* Run a snippet as a classic script and wait until its socket is open. */
async function runSnippet(user, code, socketName) {
  await user.page.addScriptTag({ content: code });
  await user.page.waitForFunction(`${socketName}.readyState === WebSocket.OPEN`);
}

describe('seed clients, verbatim', () => {
  let host;
  const browsers = [];

  before(async () => {
    host = await Host.start();
  });

  after(async () => {
    for (const b of browsers) await b.close();
    await host?.stop();
    assert.deepEqual(browsers.flatMap((b) => b.errors), [], 'uncaught errors in the pages');
  });

  test('seed 002: {"type": "message", "text"} on /ws/chats/<id>/ reaches the chat', STEP, async () => {
    const alice = await host.createUser('alice');
    const bob = await host.createUser('bob');
    const { token } = await host.login('alice');
    const { token: bobToken } = await host.login('bob');
    const { room } = await host.api('POST', '/api/threads/', { user_id: bob.id }, token);
    const where = [['127.0.0.1:8000', new URL(host.url).host], ['/ws/chats/1/', `/ws/chats/${room.id}/`]];
    const b = await seedPage(host, 'bob', false);
    const a = await seedPage(host, 'alice', false);
    browsers.push(a, b);
    await runSnippet(b, seed('002_bearer.js', [...where, ['YOUR_TOKEN_HERE', bobToken]]), 'ws');
    await b.waitFor(/^{"type":"history"/);
    await a.page.addScriptTag({ content: seed('002_chat.js', [...where, ['XXX', token]]) });
    for (const user of [a, b]) {
      const got = JSON.parse(await user.waitFor(/^{"type":"message",.*"text":"Hello"/));
      assert.equal(got.chat_id, room.id);
      assert.deepEqual(got.sender, { id: alice.id, username: 'alice' });
    }
  });

  test('seed 003: the ad page of a client and of the publisher, unchanged', STEP, async () => {
    const pia = await host.createUser('pia', 'publisher');
    await host.createUser('carl');
    await host.api('POST', '/api/ads/', { ad_id: AD_ID, publisher_id: pia.id });
    const code = seed('003_ad.js', [['const adId = 123;', `const adId = ${AD_ID};`], ['`wss://', '`ws://']]);
    const client = await seedPage(host, 'carl');
    browsers.push(client);
    await runSnippet(client, code, 'chatSocket');
    await client.waitFor(/^Chat history:/);
    await client.page.evaluate(() => sendMessage('Is it still for sale?'));
    await client.waitFor('New message from: carl');
    await client.waitFor('Message: Is it still for sale?');

    const publisher = await seedPage(host, 'pia');
    browsers.push(publisher);
    await runSnippet(publisher, code, 'chatSocket');
    await publisher.waitFor(/^Chat history:/);
    // the publisher's page sends as the seed does: no client_id
    await publisher.page.evaluate(() => sendMessage('Yes, it is'));
    await client.waitFor('New message from: pia');
    await client.waitFor('Message: Yes, it is');
    await publisher.waitFor('Message: Yes, it is');

    await client.page.evaluate(() => sendTyping());
    await publisher.waitFor('carl is typing...');
    await client.page.evaluate(() => sendMessage('Great, I take it'));
    await publisher.waitFor('New message from: carl');
    await publisher.waitFor('Message: Great, I take it');
  });

  test('seed 003: the support page of a publisher and of an admin', STEP, async () => {
    const pub = await host.createUser('pub1', 'publisher');
    await host.createUser('admin1', 'admin');
    const code = seed('003_support.js', [['const publisherId = 456;', `const publisherId = ${pub.id};`],
      ['`wss://', '`ws://']]);
    const p = await seedPage(host, 'pub1');
    const d = await seedPage(host, 'admin1');
    browsers.push(p, d);
    await runSnippet(p, code, 'supportSocket');
    await runSnippet(d, code, 'supportSocket');
    await p.page.evaluate(() => sendSupportMessage('My ad is not showing'));
    await d.waitFor('publisher: My ad is not showing');
    await p.waitFor('publisher: My ad is not showing');
    await d.page.evaluate(() => sendSupportMessage('Looking into it'));
    await p.waitFor('admin: Looking into it');
  });
});
