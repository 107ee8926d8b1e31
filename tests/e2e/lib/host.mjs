/*
 * host.mjs -- one real chanhost for a browser test file.  Owns its
 * temporary directory (config, SQLite store, store key, auth secret,
 * service token), starting build/chanhost on a free port and waiting for
 * its "Listening on TCP address" line, killing it with SIGKILL (or
 * pausing it with SIGSTOP) and restarting it on the same port with the
 * same store, stopping it with SIGTERM (failing on a sanitizer report),
 * and the service-token API calls tests use to make publishers, admins
 * and task members (docs/api.md).
 *
 * Paths come from CTest's environment (CHANHOST_BIN, CHANHOST_PLUGIN_DIR,
 * CHANHOST_SOURCE_DIR) and default to this tree's build/.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SOURCE_DIR = process.env.CHANHOST_SOURCE_DIR ||
  resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BIN = process.env.CHANHOST_BIN || join(SOURCE_DIR, 'build', 'chanhost');
export const PLUGIN_DIR = process.env.CHANHOST_PLUGIN_DIR || join(SOURCE_DIR, 'build', 'plugins');

const LISTEN_RE = /Listening on TCP address \S+:(\d+)/;
const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer/;
const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 20000;

/* The chat routes of etc/chanhost.conf, and the support plugin's. */
const ROUTES = [
  '/ws/chat-room/<int:room_id>/ chatroom',
  '/ws/threads/<int:thread_id>/ chatroom',
  '/ws/chats/<int:chat_id>/ chatroom',
  '/ws/chat/group/<slug:room_name>/ chatroom',
  '/ws/lobby/ chatroom',
  '/ws/task-comments/<int:task_id>/ taskcomments',
  '/ws/chat/ad/<int:ad_id>/ support',
  '/ws/chat/support/<str:room_name>/ support',
];

function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

export class Host {
  dir = mkdtempSync(join(tmpdir(), 'chanhost-e2e-'));
  serviceToken = `e2e-service-${Math.random().toString(36).slice(2)}-token`;
  port = 0;
  lines = [];
  proc = null;

  static async start() {
    if (!existsSync(BIN)) {
      throw new Error(`chanhost binary not found at ${BIN} (build it: cmake -S . -B build && cmake --build build)`);
    }
    const host = new Host();
    writeFileSync(join(host.dir, 'service.token'), `${host.serviceToken}\n`, { mode: 0o600 });
    await host.#spawn();
    return host;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  log() { return this.lines.join('\n'); }

  #config() {
    return [
      `listen 127.0.0.1:${this.port}`,
      `plugin_dir ${PLUGIN_DIR}`,
      `static_dir ${join(SOURCE_DIR, 'web')}`,
      `store sqlite:${join(this.dir, 'chat.db')}`,
      `auth_service_token_file ${join(this.dir, 'service.token')}`,
      'auth_pbkdf2_iterations 1000',
      'roles publisher', // the support plugin's role, as in etc/chanhost.conf
      'workers 1', // one process: pause() and kill() stop the host itself
      'plugin_setting chatroom presence on', // the online line (docs/presence.md)
      ...ROUTES.map((r) => `route ${r}`),
      '',
    ].join('\n');
  }

  /* Start the process; resolves once it listens (learning the port). */
  async #spawn() {
    const conf = join(this.dir, 'chanhost.conf');
    writeFileSync(conf, this.#config());
    const proc = spawn(BIN, ['--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const exited = once(proc, 'exit');
    let buffered = '';
    const listening = new Promise((resolveListen) => {
      const onData = (chunk) => {
        buffered += chunk.toString();
        const parts = buffered.split('\n');
        buffered = parts.pop();
        for (const line of parts) {
          this.lines.push(line);
          const m = LISTEN_RE.exec(line);
          if (m) resolveListen(Number(m[1]));
        }
      };
      proc.stderr.on('data', onData);
      proc.stdout.on('data', onData);
    });
    const port = await withTimeout(Promise.race([
      listening,
      exited.then(([code, signal]) => {
        throw new Error(`chanhost exited (${code ?? signal}) before listening:\n${this.log()}`);
      }),
    ]), START_TIMEOUT_MS, `chanhost to listen\n${this.log()}`);
    this.port = port;
  }

  async #waitExit() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await withTimeout(once(this.proc, 'exit'), STOP_TIMEOUT_MS, 'chanhost to exit');
  }

  /* kill -9: no goodbye to anyone. */
  async kill() {
    this.proc.kill('SIGKILL');
    await this.#waitExit();
  }

  pause() { this.proc.kill('SIGSTOP'); }
  resume() { this.proc.kill('SIGCONT'); }

  /* Start again on the same port with the same store. */
  async restart() {
    await this.#spawn();
  }

  /* SIGTERM, then a sanitizer report or a bad exit fails the test. */
  async stop() {
    if (!this.proc) return;
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGCONT');
      this.proc.kill('SIGTERM');
      await this.#waitExit().catch(async (err) => {
        this.proc.kill('SIGKILL');
        throw err;
      });
    }
    const text = this.log();
    rmSync(this.dir, { recursive: true, force: true });
    if (SANITIZER_RE.test(text)) throw new Error(`chanhost reported a sanitizer error:\n${text}`);
  }

  /* A JSON API call (with the service token unless another is given). */
  async api(method, path, body, token = this.serviceToken) {
    const res = await fetch(this.url + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  }

  async createUser(username, role = 'user', password = 'password123') {
    const { user } = await this.api('POST', '/api/users/',
      { username, email: `${username}@example.com`, password, role });
    return user;
  }

  async login(username, password = 'password123') {
    const res = await fetch(`${this.url}/api/auth/login/`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) throw new Error(`login ${username}: ${res.status}`);
    return res.json();
  }
}
