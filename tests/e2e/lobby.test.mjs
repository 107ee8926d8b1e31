/*
 * lobby.test.mjs -- what the lobby socket drives: unread badges that
 * count up live and clear when the room is read, a new group appearing
 * with its first message, and, while the tab is not focused, the unread
 * count in the tab title and a browser notification (permission given).
 * A room open in an unfocused tab is not marked read until the user
 * comes back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from './lib/host.mjs';
import { launch, recordNotifications, screenshot, setFocused, until } from './lib/browser.mjs';
import { ChatUI } from './lib/chatui.mjs';

const STEP = { timeout: 90000 };

describe('the lobby: badges, title and notifications', () => {
  let host;
  let alice;
  let bob;
  let A;
  let B;

  before(async () => {
    host = await Host.start();
    await host.createUser('alice');
    await host.createUser('bob');
    alice = await launch('alice');
    bob = await launch('bob', { permissions: ['notifications'], origin: host.url });
    await recordNotifications(bob.context);
    A = new ChatUI(alice, host);
    B = new ChatUI(bob, host);
  });

  after(async () => {
    await alice?.close();
    await bob?.close();
    await host?.stop();
    assert.deepEqual([...(alice?.errors ?? []), ...(bob?.errors ?? [])], [], 'uncaught errors in the pages');
  });

  test('both log in; alice opens a chat with bob', STEP, async () => {
    await A.logIn('alice');
    await B.logIn('bob');
    await A.newChat('bob');
    await A.waitStatus('connected');
    assert.equal(await B.page.getByRole('button', { name: 'Turn on browser notifications' }).isVisible(), false,
      'permission is granted already: no offer');
  });

  test('the badge counts up live and clears when bob reads', STEP, async () => {
    await A.send('one');
    await B.room('alice').waitFor();
    await B.badgeCount('alice', 1);
    await A.send('two');
    await B.badgeCount('alice', 2);
    await B.page.getByRole('link', { name: /^alice\s*, 2 unread/ }).waitFor();
    await screenshot(B.page, 'lobby-01-badge-2');
    await B.openRoom('alice');
    await B.badgeCount('alice', 0);
    await A.tickState('two', 'read');
  });

  test('a new group shows up with its first message', STEP, async () => {
    await B.page.getByRole('link', { name: 'Chats' }).click();
    await A.newGroup('team', ['bob']);
    await A.waitStatus('connected');
    await A.send('Welcome to the team room');
    await B.room('# team').waitFor();
    await B.badgeCount('# team', 1);
    await B.openRoom('# team');
    await B.once('Welcome to the team room');
    await B.badgeCount('# team', 0);
    await A.tickState('Welcome to the team room', 'read');
  });

  test('while bob looks elsewhere: (N) in the title and a browser notification', STEP, async () => {
    await B.page.getByRole('link', { name: 'Chats' }).click();
    await B.page.getByRole('heading', { name: 'Hello, bob' }).waitFor();
    await setFocused(bob, false);
    await A.room('bob').click();
    await A.title('bob');
    await A.waitStatus('connected');
    await A.send('Are you at your desk?');
    await until(B.page, 'the title to count 1 unread', () => document.title === '(1) chanhost chat');
    await until(B.page, 'a browser notification', () =>
      window.__notifications.some((n) => n.title === 'New message from alice'));
    await A.send('Hello?');
    await until(B.page, 'the title to count 2 unread', () => document.title === '(2) chanhost chat');
    await screenshot(B.page, 'lobby-02-unfocused');

    await setFocused(bob, true);
    await until(B.page, 'the title without a count', () => document.title === 'chanhost chat');
    await B.badgeCount('alice', 2);
  });

  test('a room open in an unfocused tab is read only when bob comes back', STEP, async () => {
    await B.openRoom('alice');
    await B.badgeCount('alice', 0);
    await A.tickState('Hello?', 'read');
    await setFocused(bob, false);
    await A.send('Still there?');
    await A.tickState('Still there?', 'stored');
    await B.once('Still there?');
    await B.badgeCount('alice', 1);
    await until(B.page, 'the title to count 1 unread', () => document.title === '(1) alice · chanhost chat');
    assert.equal(await A.stateOf('Still there?'), 'stored', 'not read while bob looks away');

    await setFocused(bob, true);
    await A.tickState('Still there?', 'read');
    await B.badgeCount('alice', 0);
    await until(B.page, 'the plain title', () => document.title === 'alice · chanhost chat');
    await screenshot(A.page, 'lobby-03-read-on-return');
  });
});
