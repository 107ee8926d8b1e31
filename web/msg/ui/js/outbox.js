/*
 * outbox.js -- the messages a user sent that the server has not acked
 * yet (seed 004's client retry queue).  Owns, per conversation, the list
 * of {client_msg_id, text, created, attachments?: [upload ids]} kept in sessionStorage (so a reload
 * of the tab does not lose them), and the client_msg_id itself: a
 * crypto.randomUUID(), or the same shape from crypto.getRandomValues on
 * pages that are not a secure context.  When to send and resend is the
 * conversation's business (conversation.js).
 */

const PREFIX = 'chanhost.outbox.';

export function newClientMsgId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Outbox {
  #key;
  #items;

  /* key: the user and conversation, e.g. "7.room-12". */
  constructor(key) {
    this.#key = PREFIX + key;
    try {
      this.#items = JSON.parse(sessionStorage.getItem(this.#key)) ?? [];
    } catch {
      this.#items = [];
    }
  }

  get items() { return [...this.#items]; }

  has(cmid) { return this.#items.some((m) => m.client_msg_id === cmid); }

  add(text, attachments) {
    const item = { client_msg_id: newClientMsgId(), text, created: Date.now() };
    if (attachments?.length) item.attachments = attachments;
    this.#items.push(item);
    this.#save();
    return item;
  }

  /* Forget a message (acked, or refused for good); the item or null. */
  remove(cmid) {
    const i = this.#items.findIndex((m) => m.client_msg_id === cmid);
    if (i < 0) return null;
    const [item] = this.#items.splice(i, 1);
    this.#save();
    return item;
  }

  #save() {
    try {
      if (this.#items.length) sessionStorage.setItem(this.#key, JSON.stringify(this.#items));
      else sessionStorage.removeItem(this.#key);
    } catch {
      /* storage full or disabled: the queue lives in memory only */
    }
  }

  /* Drop every queue of this tab (at log out). */
  static clearAll() {
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith(PREFIX)) sessionStorage.removeItem(key);
    }
  }
}
