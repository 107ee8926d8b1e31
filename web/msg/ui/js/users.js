/*
 * users.js -- the people a user can chat with (GET /api/users/): names
 * for thread titles, the partner picker, and the publisher list of the
 * support desk.  Reloaded when an id turns up that it does not know yet.
 */
import { api } from './api.js';

export class Users {
  #byId = new Map();

  async load() {
    const { users } = await api.get('/api/users/');
    this.#byId = new Map(users.map((u) => [u.id, u]));
    return this;
  }

  /* Reload when any of ids is unknown (a user who signed up since). */
  async know(ids) {
    if (ids.some((id) => !this.#byId.has(id))) await this.load();
  }

  byId(id) { return this.#byId.get(id) ?? null; }

  name(id) { return this.#byId.get(id)?.username ?? `user ${id}`; }

  all() { return [...this.#byId.values()]; }

  others(meId) { return this.all().filter((u) => u.id !== meId); }

  publishers() { return this.all().filter((u) => u.role === 'publisher'); }
}
