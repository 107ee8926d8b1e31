/*
 * status.test.mjs -- the operator's page /admin/status/ (issue 17, item
 * 4): an admin logs in on the page and sees its charts move while a load
 * runs (WebSockets opened and messages sent from another page: the
 * connections per route and the messages per second drawn from
 * GET /api/admin/status/); a user who is not an admin gets 403.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from './lib/host.mjs';
import { launch, screenshot, until } from './lib/browser.mjs';

const STEP = { timeout: 60000 };
const GROUP = '/ws/chat/group/<slug:room_name>/';

/* Log in on the status page's own form. */
async function logIn(page, url, username) {
  await page.goto(`${url}/admin/status/`);
  await page.getByRole('heading', { name: 'Log in as an admin' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('password123');
  await page.getByRole('button', { name: 'Log in' }).click();
}

/* The number the legend entry `series` of chart shows, or null. */
function legendValue(page, chart, series) {
  return page.evaluate(([c, s]) => {
    const li = [...document.querySelectorAll(`#legend-${c} li`)].find((e) => e.dataset.series === s);
    return li ? Number(li.textContent.split(': ').pop()) : null;
  }, [chart, series]);
}

describe('the operator page', () => {
  let host;
  let admin;
  let joe;
  let loader;
  let token;

  before(async () => {
    host = await Host.start();
    await host.createUser('root', 'admin');
    await host.createUser('joe');
    await host.createUser('loadbot');
    ({ token } = await host.login('loadbot'));
    admin = await launch('admin');
    joe = await launch('joe');
    loader = await launch('loader');
  });

  after(async () => {
    await admin?.close();
    await joe?.close();
    await loader?.close();
    await host?.stop();
    const errors = [...(admin?.errors ?? []), ...(joe?.errors ?? []), ...(loader?.errors ?? [])];
    assert.deepEqual(errors, [], 'uncaught errors in the pages');
  });

  test('an admin sees the charts of an idle host', STEP, async () => {
    await logIn(admin.page, host.url, 'root');
    await admin.page.locator('#board').waitFor();
    await until(admin.page, 'the route series', (r) =>
      [...document.querySelectorAll('#legend-connections li')].some((li) => li.dataset.series === r), GROUP);
    assert.equal(await legendValue(admin.page, 'connections', GROUP), 0);
    await admin.page.getByRole('cell', { name: 'chatroom', exact: true }).waitFor();
    await admin.page.getByText(/memory: /).waitFor();
  });

  test('the charts move while a load runs', STEP, async () => {
    const page = admin.page;
    const before = Number(await page.locator('#chart-messages').getAttribute('data-points'));
    await loader.page.goto(`${host.url}/chat-ws-test/`);
    await loader.page.evaluate(([t]) => {
      window.load = { sockets: [], sent: 0 };
      for (let i = 0; i < 3; i++) {
        const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws/chat/group/loadtest/?token=${t}`);
        window.load.sockets.push(ws);
      }
      window.load.timer = setInterval(() => {
        for (const ws of window.load.sockets) {
          if (ws.readyState !== WebSocket.OPEN) continue;
          ws.send(JSON.stringify({ type: 'chat_message', message: `load ${window.load.sent++}` }));
        }
      }, 50);
    }, [token]);
    await until(page, 'three connections on the group route', (r) =>
      [...document.querySelectorAll('#legend-connections li')].some(
        (li) => li.dataset.series === r && li.textContent.endsWith(': 3')), GROUP);
    await until(page, 'messages per second in above zero', () =>
      [...document.querySelectorAll('#legend-messages li')].some(
        (li) => li.dataset.series === 'in' && Number(li.textContent.split(': ').pop()) > 0));
    assert.ok((await legendValue(page, 'messages', 'out')) > 0);
    assert.ok(Number(await page.locator('#chart-messages').getAttribute('data-points')) > before);
    await screenshot(page, 'status-01-under-load');
    await loader.page.evaluate(() => {
      clearInterval(window.load.timer);
      for (const ws of window.load.sockets) ws.close();
    });
    await until(page, 'the connections back to zero', (r) =>
      [...document.querySelectorAll('#legend-connections li')].some(
        (li) => li.dataset.series === r && li.textContent.endsWith(': 0')), GROUP);
  });

  test('a user who is not an admin gets 403', STEP, async () => {
    await logIn(joe.page, host.url, 'joe');
    await joe.page.getByRole('heading', { name: '403' }).waitFor();
    assert.equal(await joe.page.locator('#board').isHidden(), true);
    const res = await joe.page.evaluate(async () => (await fetch('/api/admin/status/')).status);
    assert.equal(res, 403);
    await screenshot(joe.page, 'status-02-not-an-admin');
  });
});
