/*
 * timeline.js -- the messages of one conversation and their list on the
 * page.  Owns:
 *
 *   - the model: one entry per message, found by server id or by the
 *     sender's client_msg_id, so a message never shows twice (a retry, a
 *     broadcast after an ack, a ?since= history after a reconnect all
 *     merge into the entry already there);
 *   - the state of the user's own messages and their ticks: pending
 *     (queued, clock), sent (on the wire, one grey tick), stored (acked
 *     or from the server, two grey ticks), read (two blue ticks: someone
 *     *else* read it; the sender's own receipt never counts), failed;
 *   - the rendering: messages in id order (unacked ones last), a date
 *     heading before each day, edits and deletions, the Edit / Delete
 *     buttons of the user's own messages, and keeping the view at the
 *     bottom when it was there.
 *
 * Messages are in the shape of protocols.js.
 */
import { el, dayKey, dayLabel, timeLabel } from './ui.js';

const RANK = { pending: 0, sent: 1, failed: 1, stored: 2 };
const NEAR_BOTTOM_PX = 80;
const SVG_NS = 'http://www.w3.org/2000/svg';

/* A small inline icon (no font or image needed): paths in a 16x12 box. */
/* A message's attachments: images (but SVG) shown inline, each opening
 * in a new tab; other files as download links.  null when none. */
function attachmentsView(list) {
  if (!list?.length) return null;
  return el('div', { class: 'attachments' }, list.map((a) => {
    const href = `/api/attachments/${encodeURIComponent(a.id)}/`;
    if (String(a.type).startsWith('image/') && a.type !== 'image/svg+xml') {
      return el('a', { href, target: '_blank', rel: 'noopener', class: 'attachment-image' },
        el('img', { src: href, alt: a.name, loading: 'lazy' }));
    }
    return el('a', { href, download: a.name, class: 'attachment-file',
      text: `${a.name} (${Math.max(1, Math.round(a.size / 1024))} KB)` });
  }));
}

function icon(paths, cls) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 12');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  for (const d of paths) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

const TICKS = {
  pending: { label: 'Waiting to send', paths: ['M8 1.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9', 'M8 3.5V6l2 1.5'] },
  sent: { label: 'Sent', paths: ['M2 6.5l3 3l6-7'] },
  stored: { label: 'Delivered', paths: ['M1 6.5l3 3l6-7', 'M6.5 8.5l1 1l6-7'] },
  read: { label: 'Read', paths: ['M1 6.5l3 3l6-7', 'M6.5 8.5l1 1l6-7'] },
  failed: { label: 'Not sent', paths: ['M8 2v5', 'M8 9v1.5'] },
};

export class Timeline {
  #log;
  #me;
  #protocol;
  #actions;
  #entries = new Map();  /* key -> entry */
  #byId = new Map();     /* server id -> entry */
  #byCmid = new Map();   /* "<user id>:<client_msg_id>" -> entry */
  #days = new Map();     /* day key -> heading element */
  #seq = 0;
  #scheduled = false;
  #forceBottom = true;
  #keepPosition = false;

  /* actions: {onEdit(entry), onDelete(entry), onDiscard(entry)} */
  constructor(log, { me, protocol, actions }) {
    this.#log = log;
    this.#me = me;
    this.#protocol = protocol;
    this.#actions = actions;
  }

  #cmidKey(userId, cmid) { return `${userId}:${cmid}`; }

  #find(m) {
    return (m.id != null && this.#byId.get(m.id)) ||
      (m.cmid && this.#byCmid.get(this.#cmidKey(m.userId, m.cmid))) || null;
  }

  #touch(entry) {
    entry.dirty = true;
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.render();
    });
  }

  isMine(entry) { return entry.userId === this.#me.id; }

  /* Add or merge a message; state (own messages) never goes backwards
   * from stored.  Returns the entry. */
  upsert(m, state) {
    let entry = this.#find(m);
    if (!entry) {
      entry = { key: `e${++this.#seq}`, seq: this.#seq, id: null, cmid: null, readBy: new Set(),
        state: null, error: '', el: null };
      this.#entries.set(entry.key, entry);
    }
    for (const k of ['text', 'userId', 'username', 'ts', 'role']) {
      if (m[k] !== undefined && m[k] !== null) entry[k] = m[k];
    }
    if (m.attachments?.length) entry.attachments = m.attachments;
    entry.edited = Boolean(entry.edited || m.edited);
    entry.deleted = Boolean(entry.deleted || m.deleted);
    for (const u of m.readBy ?? []) entry.readBy.add(u);
    if (m.id != null && entry.id == null) {
      entry.id = m.id;
      this.#byId.set(m.id, entry);
    }
    if (m.cmid && !entry.cmid) {
      entry.cmid = m.cmid;
      this.#byCmid.set(this.#cmidKey(entry.userId, m.cmid), entry);
    }
    if (this.isMine(entry)) this.#setState(entry, state ?? (entry.id != null ? 'stored' : 'pending'));
    this.#touch(entry);
    return entry;
  }

  #setState(entry, state, error = '') {
    if (entry.state && RANK[entry.state] > RANK[state]) return;
    entry.state = state;
    entry.error = error;
  }

  byCmid(cmid) { return this.#byCmid.get(this.#cmidKey(this.#me.id, cmid)) ?? null; }

  /* Move one of the user's own messages to state (not back from stored). */
  setState(cmid, state, error = '') {
    const entry = this.byCmid(cmid);
    if (!entry) return;
    if (state === 'pending' && entry.state === 'sent') entry.state = 'pending';
    else this.#setState(entry, state, error);
    this.#touch(entry);
  }

  /* Every own message on the wire and unacked goes back to pending. */
  unsend() {
    for (const entry of this.#entries.values()) {
      if (entry.state === 'sent') this.setState(entry.cmid, 'pending');
    }
  }

  ack(cmid, id) {
    const entry = this.byCmid(cmid);
    if (entry) this.upsert({ id, cmid, userId: entry.userId }, 'stored');
  }

  edit(id, text) {
    const entry = this.#byId.get(id);
    if (entry) this.upsert({ id, text, edited: true, userId: entry.userId });
  }

  remove(id) {
    const entry = this.#byId.get(id);
    if (entry) this.upsert({ id, text: '', deleted: true, userId: entry.userId });
  }

  /* Receipts of userId for message ids; the user's own never count. */
  addReader(ids, userId) {
    if (userId === this.#me.id) return;
    for (const id of ids) {
      const entry = this.#byId.get(id);
      if (entry && !entry.readBy.has(userId)) {
        entry.readBy.add(userId);
        this.#touch(entry);
      }
    }
  }

  discard(entry) {
    this.#entries.delete(entry.key);
    if (entry.cmid) this.#byCmid.delete(this.#cmidKey(entry.userId, entry.cmid));
    entry.el?.remove();
    this.render();
  }

  lastId() {
    let max = null;
    for (const id of this.#byId.keys()) if (max === null || id > max) max = id;
    return max;
  }

  firstId() {
    let min = null;
    for (const id of this.#byId.keys()) if (min === null || id < min) min = id;
    return min;
  }

  get size() { return this.#entries.size; }

  /* The next render scrolls to the bottom / keeps the reader's place
   * (older messages added above). */
  stickToBottom() { this.#forceBottom = true; }
  keepPosition() { this.#keepPosition = true; }

  #tick(entry) {
    if (!this.isMine(entry) || entry.deleted) return null;
    const readByOther = [...entry.readBy].some((u) => u !== this.#me.id);
    const state = entry.state === 'stored' && readByOther ? 'read' : entry.state;
    const t = TICKS[state];
    return { state, node: el('span', { class: `ticks ticks-${state}`, role: 'img', 'aria-label': t.label, title: t.label },
      icon(t.paths, 'tick-icon')) };
  }

  #actionsFor(entry) {
    if (entry.state === 'failed') {
      return el('div', { class: 'msg-actions' },
        el('button', { type: 'button', class: 'link', text: 'Discard', onclick: () => this.#actions.onDiscard(entry) }));
    }
    if (!this.isMine(entry) || entry.deleted || entry.id == null || !this.#protocol.editable) return null;
    const what = entry.text.length > 40 ? `${entry.text.slice(0, 40)}…` : entry.text;
    return el('div', { class: 'msg-actions' },
      el('button', { type: 'button', class: 'link', text: 'Edit', 'aria-label': `Edit message: ${what}`,
        onclick: () => this.#actions.onEdit(entry) }),
      el('button', { type: 'button', class: 'link', text: 'Delete', 'aria-label': `Delete message: ${what}`,
        onclick: () => this.#actions.onDelete(entry) }));
  }

  #build(entry) {
    const mine = this.isMine(entry);
    const tick = this.#tick(entry);
    const node = entry.el ?? el('div');
    node.className = `msg ${mine ? 'mine' : 'theirs'}${entry.deleted ? ' deleted' : ''}`;
    node.dataset.key = entry.key;
    node.dataset.state = tick ? tick.state : '';
    if (entry.id != null) node.dataset.id = entry.id;
    if (entry.cmid) node.dataset.cmid = entry.cmid;
    node.dataset.user = entry.username;
    node.replaceChildren(el('div', { class: 'bubble' },
      el('p', { class: 'meta' },
        el('span', { class: 'author', text: mine ? 'You' : entry.username }),
        entry.role && el('span', { class: 'role', text: entry.role }),
        el('time', { datetime: new Date(entry.ts).toISOString(), text: timeLabel(entry.ts) }),
        entry.edited && !entry.deleted && el('span', { class: 'edited', text: '(edited)' })),
      entry.deleted
        ? el('p', { class: 'text', text: 'This message was deleted.' })
        : el('p', { class: 'text', text: entry.text }),
      !entry.deleted && attachmentsView(entry.attachments),
      entry.state === 'failed' && el('p', { class: 'msg-error', text: `Not sent: ${entry.error}` }),
      el('div', { class: 'msg-foot' }, this.#actionsFor(entry), tick?.node)));
    entry.el = node;
    entry.dirty = false;
    return node;
  }

  #dayHeading(ts) {
    const key = dayKey(ts);
    let h = this.#days.get(key);
    if (!h) {
      h = el('h3', { class: 'day', dataset: { day: key } }, el('span'));
      this.#days.set(key, h);
    }
    h.firstChild.textContent = dayLabel(ts);
    return h;
  }

  /* Bring the page in line with the model, moving only what moved. */
  render() {
    const log = this.#log;
    const wasNearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
    const oldHeight = log.scrollHeight;
    const oldTop = log.scrollTop;
    const ordered = [...this.#entries.values()].sort((a, b) =>
      (a.id ?? Infinity) - (b.id ?? Infinity) || a.seq - b.seq);
    const wanted = [];
    let day = null;
    for (const entry of ordered) {
      if (dayKey(entry.ts) !== day) {
        day = dayKey(entry.ts);
        wanted.push(this.#dayHeading(entry.ts));
      }
      wanted.push(entry.dirty || !entry.el ? this.#build(entry) : entry.el);
    }
    let cur = log.firstChild;
    for (const node of wanted) {
      if (node === cur) cur = cur.nextSibling;
      else log.insertBefore(node, cur);
    }
    while (cur) {
      const next = cur.nextSibling;
      cur.remove();
      cur = next;
    }
    if (this.#keepPosition) log.scrollTop = oldTop + (log.scrollHeight - oldHeight);
    else if (this.#forceBottom || wasNearBottom) log.scrollTop = log.scrollHeight;
    this.#keepPosition = false;
    this.#forceBottom = false;
  }
}
