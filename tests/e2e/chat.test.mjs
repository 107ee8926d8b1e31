/*
 * chat.test.mjs -- two people sign up in two browsers and chat both
 * ways: history and live messages, date grouping, the typing indicator,
 * who is online and "last seen" (presence), read ticks (grey until the
 * *other* user reads, then blue), editing
 * and deleting one's own messages, and the one-column phone layout.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot, until } from './lib/browser.mjs';
import { startPair, stopPair } from './lib/pair.mjs';

const STEP = { timeout: 90000 };

describe('two users chat in two browsers', () => {
  const p = {};
  let A;
  let B;

  before(async () => {
    await startPair(p);
    ({ A, B } = p);
  });

  after(() => stopPair(p));

  test('each signs up in their own window', STEP, async () => {
    await A.signUp('alice');
    await B.signUp('bob');
    await screenshot(A.page, 'chat-01-alice-signed-up');
  });

  test('alice starts a chat with bob and they write both ways', STEP, async () => {
    await A.newChat('bob');
    await A.waitStatus('connected');
    await A.send('Hi Bob, this is Alice');
    await A.tickState('Hi Bob, this is Alice', 'stored');

    await B.room('alice').waitFor();
    await B.openRoom('alice');
    await B.once('Hi Bob, this is Alice');
    await B.send('Hello Alice!');
    await A.once('Hello Alice!');
    await B.once('Hello Alice!');

    for (const ui of [A, B]) {
      assert.equal(await ui.page.locator('.log h3.day').count(), 1, 'one date heading for today');
      assert.equal(await ui.page.locator('.log h3.day').textContent(), 'Today');
    }
    assert.equal(await A.msg('Hello Alice!').locator('.author').textContent(), 'bob');
    await screenshot(A.page, 'chat-02-alice-and-bob');
  });

  test('history is there after a reload', STEP, async () => {
    await B.page.reload();
    await B.title('alice');
    await B.once('Hi Bob, this is Alice');
    await B.once('Hello Alice!');
  });

  test('typing shows on the other side', STEP, async () => {
    await B.composer.pressSequentially('I am wri', { delay: 20 });
    await A.typingLine().filter({ hasText: 'bob is typing…' }).waitFor();
    await screenshot(A.page, 'chat-03-bob-is-typing');
    await B.composer.pressSequentially('ting back');
    await B.composer.press('Enter');
    await A.once('I am writing back');
    await until(A.page, 'the typing line to clear', () => document.querySelector('.typing').textContent === '');
  });

  test('each sees the other online, then "last seen" once they leave', STEP, async () => {
    await A.page.locator('.presence .who.online', { hasText: 'bob' }).waitFor();
    await B.page.locator('.presence .who.online', { hasText: 'alice' }).waitFor();
    await screenshot(A.page, 'chat-04-bob-online');
    await B.page.getByRole('link', { name: 'Chats' }).click();
    await B.page.getByRole('heading', { name: 'Hello, bob' }).waitFor();
    await A.page.locator('.presence .who.offline', { hasText: 'bob · last seen' }).waitFor();
    assert.equal(await A.page.locator('.presence .who.online', { hasText: 'bob' }).count(), 0);
  });

  test('ticks turn blue only when the other user reads', STEP, async () => {
    await B.page.getByRole('link', { name: 'Chats' }).click();
    await B.page.getByRole('heading', { name: 'Hello, bob' }).waitFor();

    await A.send('Are you there?');
    await A.tickState('Are you there?', 'stored');
    await B.badgeCount('alice', 1);

    await A.page.reload();          /* alice reads the room herself: her bulk_read ... */
    await A.title('bob');
    await A.waitStatus('connected');
    await A.once('Are you there?');
    assert.equal(await A.stateOf('Are you there?'), 'stored', '... never turns her own ticks blue');

    await B.openRoom('alice');      /* bob reads it */
    await A.tickState('Are you there?', 'read');
    await B.badgeCount('alice', 0);
    const blue = await A.msg('Are you there?').locator('.tick-icon').evaluate((n) => getComputedStyle(n).stroke);
    assert.equal(blue, 'rgb(11, 87, 208)');
    assert.equal(await A.msg('Hi Bob, this is Alice').getAttribute('data-state'), 'read');
    assert.equal(await B.msg('Hello Alice!').getAttribute('data-state'), 'read');

    await B.send('Yes!');           /* alice has the room open and looks: read at once */
    await B.tickState('Yes!', 'read');
    await screenshot(A.page, 'chat-04-blue-ticks');
  });

  test('alice edits and deletes her own messages; bob cannot', STEP, async () => {
    await A.msg('Are you there?').getByRole('button', { name: 'Edit message: Are you there?' }).click();
    await A.page.getByRole('textbox', { name: 'Edit message' }).fill('Are you there, Bob?');
    await A.page.getByRole('textbox', { name: 'Edit message' }).press('Enter');
    await B.once('Are you there, Bob?');
    await A.once('Are you there, Bob?');
    assert.equal(await B.msg('Are you there, Bob?').locator('.edited').textContent(), '(edited)');

    await A.msg('Hi Bob, this is Alice').getByRole('button', { name: /^Delete message/ }).click();
    await A.page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    for (const ui of [A, B]) {
      await ui.msg('This message was deleted.').waitFor();
      assert.equal(await ui.count('Hi Bob, this is Alice'), 0);
    }
    assert.equal(await B.msg('Are you there, Bob?').getByRole('button').count(), 0, 'no buttons on others’ messages');
    await screenshot(B.page, 'chat-05-edited-and-deleted');
  });

  test('at phone width the list and the chat take turns', STEP, async () => {
    await B.page.setViewportSize({ width: 390, height: 780 });
    assert.equal(await B.page.locator('.sidebar').isVisible(), false);
    assert.equal(await B.page.getByRole('link', { name: 'Back to the list' }).isVisible(), true);
    await screenshot(B.page, 'chat-06-phone-chat');
    await B.page.getByRole('link', { name: 'Back to the list' }).click();
    await B.room('alice').waitFor();
    assert.equal(await B.page.locator('main').isVisible(), false);
    await screenshot(B.page, 'chat-07-phone-list');
    await B.openRoom('alice');
    await B.send('Sent from my phone');
    await A.once('Sent from my phone');
  });
});
