/*
 * wstest.js -- the WebSocket test page (seed 002's /chat-ws-test/): build
 * a route's URL from a chat id, connect with a token (in ?token= or as
 * the "Bearer, <token>" subprotocol) or the session cookie, send JSON by
 * hand, and log every frame and close code.
 */
import { api, wsUrl } from '/msg/ui/js/api.js';

const $ = (id) => document.getElementById(id);
const CLOSE_REASONS = {
  1000: 'normal closure', 1001: 'server going away', 1006: 'connection failed or dropped',
  1008: 'policy violation', 1011: 'server error', 1013: 'try again later',
  4001: 'not authenticated: no or bad token', 4003: 'not a participant of this chat',
  4004: 'no such chat',
};
let ws = null;

function log(text, cls = '') {
  const line = document.createElement('div');
  line.className = cls;
  line.textContent = `[${new Date().toLocaleTimeString()}] ${text}`;
  $('log').append(line);
  $('log').scrollTop = $('log').scrollHeight;
}

function setState(state, text) {
  $('state').dataset.state = state;
  $('state').textContent = text;
  const open = state === 'open';
  $('send').disabled = !open;
  $('ping').disabled = !open;
  $('disconnect').disabled = state === 'closed';
}

function currentUrl() {
  const path = $('route').value.replace('{id}', encodeURIComponent($('chat-id').value.trim()));
  const token = $('token').value.trim();
  return wsUrl(path, token && $('token-via').value === 'query' ? { token } : {});
}

function showUrl() {
  $('url').textContent = currentUrl().replace(/token=[^&]+/, 'token=…');
}

function connect() {
  ws?.close(1000);
  const token = $('token').value.trim();
  const protocols = token && $('token-via').value === 'subprotocol' ? ['Bearer', token] : undefined;
  const socket = new WebSocket(currentUrl(), protocols);
  ws = socket;
  setState('connecting', 'Connecting…');
  log(`connecting to ${$('url').textContent}`);
  socket.onopen = () => {
    setState('open', 'Connected');
    log('✔ WebSocket connection established');
  };
  socket.onmessage = (e) => log(`⬇ ${e.data}`);
  socket.onerror = () => log('✖ WebSocket error', 'err');
  socket.onclose = (e) => {
    if (ws === socket) ws = null;
    setState('closed', 'Not connected');
    log(`■ Closed (${e.code}${CLOSE_REASONS[e.code] ? `: ${CLOSE_REASONS[e.code]}` : ''})${e.reason ? ` ${e.reason}` : ''}`,
      e.code === 1000 ? '' : 'err');
  };
}

function send(text) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(text);
  log(`⬆ ${text}`, 'out');
}

$('connect-form').addEventListener('submit', (e) => {
  e.preventDefault();
  connect();
});
$('disconnect').addEventListener('click', () => ws?.close(1000));
$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('frame').value;
  try {
    JSON.parse(text);
  } catch (err) {
    log(`not JSON, not sent: ${err.message}`, 'err');
    return;
  }
  send(text);
});
$('ping').addEventListener('click', () => send('{"type":"ping"}'));
$('clear').addEventListener('click', () => $('log').replaceChildren());
for (const id of ['route', 'chat-id', 'token', 'token-via']) $(id).addEventListener('input', showUrl);
$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const who = $('login-user').value.trim();
  try {
    const { token, expires_at: expires } = await api.post('/api/auth/login/',
      { [who.includes('@') ? 'email' : 'username']: who, password: $('login-password').value });
    $('token').value = token;
    showUrl();
    log(`token filled in (expires ${expires})`);
  } catch (err) {
    log(`login failed: ${err.message}`, 'err');
  }
});
showUrl();
