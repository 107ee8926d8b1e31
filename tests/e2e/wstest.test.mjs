/*
 * wstest.test.mjs -- the landing page and the WebSocket test page (seed
 * 002's /chat-ws-test/): / leads to the chat; with a chat id and a token
 * (or none: 4001) the test page connects, shows the frames, and sends
 * JSON typed by hand.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from './lib/host.mjs';
import { launch, screenshot } from './lib/browser.mjs';

const STEP = { timeout: 60000 };

describe('landing page and WebSocket test page', () => {
  let host;
  let user;
  let page;
  let token;
  let room;

  before(async () => {
    host = await Host.start();
    await host.createUser('alice');
    const bob = await host.createUser('bob');
    ({ token } = await host.login('alice'));
    ({ room } = await host.api('POST', '/api/threads/', { user_id: bob.id }, token));
    user = await launch('tester');
    page = user.page;
  });

  after(async () => {
    await user?.close();
    await host?.stop();
    assert.deepEqual(user?.errors ?? [], [], 'uncaught errors in the page');
  });

  test('/ leads to the chat', STEP, async () => {
    await page.goto(`${host.url}/`);
    await page.waitForURL(`${host.url}/msg/ui/threads/`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
  });

  test('without a token or cookie the test page is refused with 4001', STEP, async () => {
    await page.goto(`${host.url}/chat-ws-test/`);
    await page.getByLabel('Chat id').fill(String(room.id));
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.getByRole('log').getByText(/Closed \(4001: not authenticated/).waitFor();
  });

  test('chat id + token, Connect: history, then a message sent by hand', STEP, async () => {
    await page.getByRole('button', { name: 'Clear log' }).click();
    await page.getByLabel('Token', { exact: true }).fill(token);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    const log = page.getByRole('log');
    await log.getByText('✔ WebSocket connection established').waitFor();
    await log.getByText('"type":"history"').waitFor();
    assert.match(await page.locator('#url').textContent(), new RegExp(`/ws/chats/${room.id}/\\?token=…$`));

    await page.getByLabel('JSON to send').fill('{"type":"chat_message","message":"hello from the test page","client_msg_id":"wstest-1"}');
    await page.getByRole('button', { name: 'Send' }).click();
    await log.getByText(/"type":"ack","client_msg_id":"wstest-1"/).waitFor();
    await log.getByText(/⬇ {"type":"chat_message","id":\d+,"message":"hello from the test page"/).waitFor();
    await page.getByRole('button', { name: 'Ping' }).click();
    await log.getByText('{"type":"pong"}').waitFor();
    await screenshot(page, 'wstest-01-connected');

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await log.getByText('Closed (1000').waitFor();
    assert.equal(await page.getByRole('status').textContent(), 'Not connected');
  });
});
