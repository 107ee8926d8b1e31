/*
 * typing.js -- the typing indicator of one conversation, both ways.
 * Owns sending {"type":"typing","is_typing":...} while the user types (at
 * most one "true" every few seconds, "false" after a pause or on send)
 * and the "alice is typing…" line for the others, which fades when they
 * stop, send, or go quiet.
 */

const SEND_EVERY_MS = 3000;   /* a fresh "true" while typing goes on */
const IDLE_MS = 4000;         /* no key for this long: "false" */
const SHOW_MS = 6000;         /* someone's "true" lasts this long */

export class Typing {
  #line;
  #send;
  #typists = new Map();  /* user id -> {name, timer} */
  #lastSent = 0;
  #idle = 0;

  /* line: the element that shows who types; send(isTyping) -> bool. */
  constructor(line, send) {
    this.#line = line;
    this.#send = send;
  }

  /* The user typed a key in the composer. */
  input() {
    const now = Date.now();
    if (now - this.#lastSent > SEND_EVERY_MS && this.#send(true)) this.#lastSent = now;
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.stop(), IDLE_MS);
  }

  /* The user sent the message or left the composer. */
  stop() {
    clearTimeout(this.#idle);
    if (this.#lastSent) this.#send(false);
    this.#lastSent = 0;
  }

  /* A typing frame of another user. */
  show(userId, name, isTyping) {
    const old = this.#typists.get(userId);
    clearTimeout(old?.timer);
    if (isTyping === false) this.#typists.delete(userId);
    else this.#typists.set(userId, { name, timer: setTimeout(() => this.clearUser(userId), SHOW_MS) });
    this.#render();
  }

  /* userId's message arrived: they are done typing it. */
  clearUser(userId) {
    if (!this.#typists.has(userId)) return;
    clearTimeout(this.#typists.get(userId).timer);
    this.#typists.delete(userId);
    this.#render();
  }

  #render() {
    const names = [...this.#typists.values()].map((t) => t.name);
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    this.#line.textContent = text;
  }

  destroy() {
    clearTimeout(this.#idle);
    for (const t of this.#typists.values()) clearTimeout(t.timer);
    this.#typists.clear();
  }
}
