/*
 * socket.js -- one reconnecting WebSocket (seed 001's connection
 * behaviour).  Owns:
 *
 *   - the status: connecting, connected, reconnecting, disconnected, with
 *     a human message ('status' events);
 *   - reconnection with exponential backoff (base delay doubling, capped)
 *     for at most maxAttempts attempts in a row, then 'disconnected' with
 *     a clear message and no more tries until retryNow();
 *   - the handshake timeout, and the heartbeat: {"type":"ping"} every
 *     heartbeatMs; no {"type":"pong"} within pongTimeoutMs means the
 *     connection is dead: it is dropped and replaced;
 *   - the close codes after which retrying is pointless (4001, 4003,
 *     4004: 'final' events).
 *
 * It knows nothing of chat payloads: frames go out as JSON (send) and
 * come in parsed ('frame' events; pongs are consumed here).  The URL is
 * asked for at every attempt, so a conversation can add ?since=.
 */
import { settings } from './config.js';

const FINAL_CLOSES = {
  4001: 'You are not logged in, or your session expired. Log in again.',
  4003: 'You are not allowed in this conversation.',
  4004: 'This conversation does not exist.',
};

export class ReconnectingSocket extends EventTarget {
  #urlFor;
  #opt;
  #ws = null;
  #attempt = 0;      /* attempts since the last open connection */
  #everOpen = false;
  #stopped = true;
  #timers = {};
  #onOnline = () => { if (this.state === 'reconnecting') this.retryNow(); };

  /* urlFor({reconnect}) -> the URL of the next attempt; opt overrides
   * config.js's settings and may name finalMessages {code: text}. */
  constructor(urlFor, opt = {}) {
    super();
    this.#urlFor = urlFor;
    this.#opt = { ...settings, ...opt, finalMessages: { ...FINAL_CLOSES, ...opt.finalMessages } };
    this.state = 'disconnected';
    this.message = '';
  }

  get connected() { return this.state === 'connected'; }
  get attempt() { return this.#attempt; }
  get maxAttempts() { return this.#opt.maxAttempts; }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#attempt = 0;
    addEventListener('online', this.#onOnline);
    this.#setState('connecting', 'Connecting…');
    this.#open();
  }

  stop() {
    this.#stopped = true;
    removeEventListener('online', this.#onOnline);
    this.#drop();
    this.#setState('disconnected', '');
  }

  /* Try now: skips the backoff wait, or starts over after giving up. */
  retryNow() {
    if (this.#stopped) {
      this.start();
      return;
    }
    if (this.state === 'connected') return;
    if (this.state === 'disconnected') this.#attempt = 0;
    this.#drop();
    this.#setState('reconnecting', 'Reconnecting…');
    this.#open();
  }

  /* Send obj as JSON; false when not connected (nothing is queued here). */
  send(obj) {
    if (this.state !== 'connected') return false;
    try {
      this.#ws.send(JSON.stringify(obj));
      return true;
    } catch {
      return false;
    }
  }

  #setState(state, message) {
    this.state = state;
    this.message = message;
    this.dispatchEvent(new CustomEvent('status', {
      detail: { state, message, attempt: this.#attempt, maxAttempts: this.#opt.maxAttempts },
    }));
  }

  #clear(name) {
    clearTimeout(this.#timers[name]);
    clearInterval(this.#timers[name]);
    delete this.#timers[name];
  }

  #clearAll() {
    for (const name of Object.keys(this.#timers)) this.#clear(name);
  }

  /* Forget the current WebSocket (closing it) and every timer. */
  #drop() {
    this.#clearAll();
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(1000);
    } catch {
      /* already closed */
    }
  }

  #open() {
    let ws;
    try {
      ws = new WebSocket(this.#urlFor({ reconnect: this.#everOpen }));
    } catch {
      this.#lost();
      return;
    }
    this.#ws = ws;
    this.#timers.connect = setTimeout(() => {
      this.#drop();
      this.#lost();
    }, this.#opt.connectTimeoutMs);
    ws.onopen = () => {
      this.#clear('connect');
      this.#attempt = 0;
      this.#everOpen = true;
      this.#startHeartbeat();
      this.#setState('connected', 'Connected');
      this.dispatchEvent(new Event('open'));
    };
    ws.onmessage = (e) => this.#received(e.data);
    ws.onclose = (e) => {
      this.#ws = null;
      this.#clearAll();
      const final = this.#opt.finalMessages[e.code];
      if (final) {
        this.#stopped = true;
        this.#setState('disconnected', final);
        this.dispatchEvent(new CustomEvent('final', { detail: { code: e.code, message: final } }));
        return;
      }
      this.#lost();
    };
    ws.onerror = () => { /* a close event follows */ };
  }

  #received(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame?.type === 'pong') {
      this.#clear('pong');
      return;
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  #startHeartbeat() {
    this.#timers.heartbeat = setInterval(() => {
      if (this.#timers.pong !== undefined) return;
      this.send({ type: 'ping' });
      this.#timers.pong = setTimeout(() => {
        this.#drop();
        this.#lost('The server stopped answering.');
      }, this.#opt.pongTimeoutMs);
    }, this.#opt.heartbeatMs);
  }

  /* The connection (or an attempt) ended: schedule the next attempt, or
   * give up after maxAttempts. */
  #lost(why = this.#everOpen ? 'The connection was lost.' : 'The server cannot be reached.') {
    if (this.#stopped) return;
    const { maxAttempts, backoffBaseMs, backoffMaxMs } = this.#opt;
    if (this.#attempt >= maxAttempts) {
      this.#setState('disconnected',
        `Could not reconnect after ${maxAttempts} attempts. Check that the server is running, then reconnect.`);
      return;
    }
    const delay = Math.min(backoffBaseMs * 2 ** this.#attempt, backoffMaxMs);
    this.#attempt += 1;
    this.#setState('reconnecting',
      `${why} Reconnecting in ${Math.ceil(delay / 1000)} s (attempt ${this.#attempt} of ${maxAttempts})…`);
    this.#timers.retry = setTimeout(() => this.#open(), delay);
  }
}
