/*
 * presence.js -- who is in a chat room (docs/presence.md): the line under
 * the room's header with a green dot before each participant who is
 * online and "last seen ..." after each one who is not.  Owns the room's
 * online set (the {"type":"presence"} frame after each connect, then the
 * presence_diff frames applied) and the participants with their last-seen
 * times (GET /api/rooms/<id>/presence/ after each presence frame; a user
 * who leaves is "last seen just now" until the next fetch).  Rooms whose
 * host does not send presence frames keep the line empty.
 */
import { api } from './api.js';
import { el } from './ui.js';

/* "just now", "5 min ago", "3 h ago" or the date, for a time in ms. */
function ago(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

export class PresenceLine {
  element = el('p', { class: 'presence', 'aria-live': 'polite', 'aria-label': 'Who is online' });
  #roomId;
  #online = new Map();  /* user id -> username */
  #people = new Map();  /* user id -> {username, last_seen} */

  constructor(roomId) {
    this.#roomId = roomId;
  }

  /* The list after a connect (users: [{user_id, username}]). */
  list(users) {
    this.#online = new Map(users.map((u) => [u.user_id, u.username]));
    this.#render();
    api.get(`/api/rooms/${this.#roomId}/presence/`).then((r) => {
      this.#people = new Map(r.users.map((u) => [u.user_id, u]));
      this.#render();
    }).catch(() => {});
  }

  /* A presence_diff frame: {joins, leaves}. */
  diff(f) {
    for (const u of f.joins ?? []) this.#online.set(u.user_id, u.username);
    for (const u of f.leaves ?? []) {
      this.#online.delete(u.user_id);
      this.#people.set(u.user_id, { user_id: u.user_id, username: u.username, last_seen: Date.now() });
    }
    this.#render();
  }

  #render() {
    const items = [];
    for (const [id, name] of this.#online) {
      items.push(el('span', { class: 'who online', 'data-user-id': String(id) },
        el('span', { class: 'dot', 'aria-hidden': 'true' }), `${name} (online)`));
    }
    for (const [id, u] of this.#people) {
      if (this.#online.has(id)) continue;
      const seen = u.last_seen ? `last seen ${ago(u.last_seen)}` : 'offline';
      items.push(el('span', { class: 'who offline', 'data-user-id': String(id) }, `${u.username} · ${seen}`));
    }
    this.element.replaceChildren(...items);
  }
}
