/*
 * chatui.mjs -- the chat page (/msg/ui/threads/) as the tests use it: one
 * ChatUI per user's page, with the actions a person takes (sign up, log
 * in, start a chat, open a room, type, send, edit, delete) and the
 * things they look at (messages, ticks, badges, the status indicator),
 * found by role, label and text where the page offers them.
 */
import { until } from './browser.mjs';

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
export const exactly = (s) => new RegExp(`^${escapeRe(s)}$`);

export class ChatUI {
  /* user: from launch(); host: the Host; query: e.g. "?hb=500" */
  constructor(user, host, query = '') {
    this.user = user;
    this.page = user.page;
    this.host = host;
    this.query = query;
  }

  async open(hash = '') {
    await this.page.goto(`${this.host.url}/msg/ui/threads/${this.query}${hash}`);
  }

  async signUp(username, password = 'password123') {
    await this.open();
    await this.page.getByRole('button', { name: 'New here? Sign up' }).click();
    const form = this.page.getByRole('form', { name: 'Sign up' });
    await form.getByLabel('Username').fill(username);
    await form.getByLabel('Email').fill(`${username}@example.com`);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: 'Sign up' }).click();
    await this.loggedIn(username);
  }

  async logIn(username, password = 'password123') {
    await this.open();
    const form = this.page.getByRole('form', { name: 'Log in' });
    await form.getByLabel('Username or email').fill(username);
    await form.getByLabel('Password').fill(password);
    await form.getByRole('button', { name: 'Log in' }).click();
    await this.loggedIn(username);
  }

  async loggedIn(username) {
    await this.page.locator('.me-name strong', { hasText: exactly(username) }).waitFor();
  }

  async logOut() {
    await this.page.getByRole('button', { name: 'Log out' }).click();
    await this.page.getByRole('heading', { name: 'Log in' }).waitFor();
  }

  async newChat(partner) {
    await this.page.getByRole('button', { name: 'New chat' }).click();
    const dialog = this.page.getByRole('dialog', { name: 'New chat' });
    await dialog.getByLabel(partner).check();
    await dialog.getByRole('button', { name: 'Start chat' }).click();
    await this.title(partner);
  }

  async newGroup(name, members) {
    await this.page.getByRole('button', { name: 'New group' }).click();
    const dialog = this.page.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Group name').fill(name);
    for (const m of members) await dialog.getByLabel(m).check();
    await dialog.getByRole('button', { name: 'Create group' }).click();
    await this.title(`# ${name}`);
  }

  /* The main column's heading says text. */
  async title(text) {
    await this.page.locator('.view-title', { hasText: exactly(text) }).waitFor();
  }

  room(label) {
    return this.page.locator('.rooms a.room').filter({ has: this.page.locator('.room-name', { hasText: exactly(label) }) });
  }

  badge(label) { return this.room(label).locator('.badge'); }

  async badgeCount(label, n) {
    await until(this.page, `the badge of ${label} to say ${n}`, ([name, count]) => {
      const link = [...document.querySelectorAll('.rooms a.room')]
        .find((a) => a.querySelector('.room-name')?.textContent === name);
      const badge = link?.querySelector('.badge');
      return badge && Number(badge.dataset.count) === count && badge.hidden === (count === 0);
    }, [label, n]);
  }

  async openRoom(label) {
    await this.room(label).click();
    await this.title(label);
    await this.waitStatus('connected');
  }

  get composer() { return this.page.getByRole('textbox', { name: /^(Message|Edit message)$/ }); }

  async send(text) {
    await this.composer.fill(text);
    await this.composer.press('Enter');
  }

  /* The messages whose text is exactly text. */
  msg(text) {
    return this.page.locator('.log .msg').filter({ has: this.page.locator('.text', { hasText: exactly(text) }) });
  }

  /* Wait until the message shows exactly once. */
  async once(text) {
    await this.msg(text).waitFor();
    await until(this.page, `"${text}" to show exactly once`, (t) =>
      [...document.querySelectorAll('.log .msg .text')].filter((n) => n.textContent === t).length === 1, text);
  }

  async count(text) { return this.msg(text).count(); }

  async tickState(text, state) {
    await until(this.page, `the ticks of "${text}" to be ${state}`, ([t, s]) => {
      const m = [...document.querySelectorAll('.log .msg')].find((n) => n.querySelector('.text')?.textContent === t);
      return m?.dataset.state === s;
    }, [text, state]);
  }

  async stateOf(text) { return this.msg(text).getAttribute('data-state'); }

  status() { return this.page.locator('.view-header .conn-status'); }

  async waitStatus(state, timeout) {
    await until(this.page, `the chat's connection status to be ${state}`,
      (s) => document.querySelector('.view-header .conn-status')?.dataset.state === s, state, timeout);
  }

  banner() { return this.page.locator('.conversation .banner'); }

  typingLine() { return this.page.locator('.typing'); }
}
