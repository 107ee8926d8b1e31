/*
 * rooms.js -- the user's chat rooms (GET /api/rooms/) and their unread
 * counts.  Owns the list (threads, private and group rooms; task, ad and
 * support rooms have their own views), each room's display name, and the
 * counts, which the lobby socket keeps current; 'change' events tell the
 * sidebar and the tab title.
 */
import { api } from './api.js';
import { setUnread } from './notify.js';

const OTHER_VIEWS = new Set(['task', 'ad', 'ad_chat', 'support']);

/* "thread:3-7" -> [3, 7] */
function threadPair(room) {
  const m = /^thread:(\d+)-(\d+)$/.exec(room.key ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export class Rooms extends EventTarget {
  #me;
  #users;
  #rooms = [];
  #unread = new Map();
  /* Live counts win over a room list fetched before them: each live
   * update is numbered, and a refresh only writes the counts of rooms
   * that had no live update since the refresh began. */
  #seq = 0;
  #liveAt = new Map();

  constructor(me, users) {
    super();
    this.#me = me;
    this.#users = users;
  }

  get list() { return this.#rooms; }

  byId(id) { return this.#rooms.find((r) => r.id === id) ?? null; }

  async refresh() {
    const started = this.#seq;
    const { rooms } = await api.get('/api/rooms/');
    this.#rooms = rooms.filter((r) => !OTHER_VIEWS.has(r.kind));
    await this.#users.know(this.#rooms.flatMap((r) => threadPair(r) ?? []));
    for (const r of this.#rooms) {
      if ((this.#liveAt.get(r.id) ?? 0) <= started) this.#unread.set(r.id, r.unread ?? 0);
    }
    this.#changed();
  }

  /* The other person of a thread (null for other rooms). */
  partner(room) {
    const pair = threadPair(room);
    if (!pair) return null;
    return pair[0] === this.#me.id ? pair[1] : pair[0];
  }

  label(room) {
    const partner = this.partner(room);
    if (partner !== null) return this.#users.name(partner);
    if (room.kind === 'group') return `# ${room.name}`;
    return room.name || `Private room ${room.id}`;
  }

  unread(id) { return this.#unread.get(id) ?? 0; }

  /* counts: {"<room id>": n}; replace: these are all of them. */
  setUnread(counts, replace = false) {
    this.#seq += 1;
    if (replace) this.#unread.clear();
    for (const [id, n] of Object.entries(counts)) {
      this.#unread.set(Number(id), n);
      this.#liveAt.set(Number(id), this.#seq);
    }
    this.#changed();
  }

  total() {
    return this.#rooms.reduce((sum, r) => sum + this.unread(r.id), 0);
  }

  #changed() {
    setUnread('rooms', this.total());
    this.dispatchEvent(new Event('change'));
  }
}
