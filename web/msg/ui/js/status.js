/*
 * status.js -- what the user sees of a ReconnectingSocket (socket.js):
 * the indicator (a green, yellow or red dot with a word: Connected,
 * Connecting…, Reconnecting…, Disconnected; announced politely), and the
 * banner that explains a lost connection and offers "Retry now" while
 * reconnecting or "Reconnect" after the attempts ran out.
 */
import { el } from './ui.js';

const WORDS = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
};

/* name: what the connection is for ("Chat", "Lobby"), for screen readers. */
export function statusView(socket, name) {
  const label = el('span', { class: 'conn-label' });
  const indicator = el('div', { class: 'conn-status', role: 'status', 'aria-label': `${name} connection` },
    el('span', { class: 'dot', 'aria-hidden': 'true' }), label);
  const text = el('p', { class: 'banner-text' });
  const button = el('button', { type: 'button', class: 'secondary', onclick: () => socket.retryNow() });
  const banner = el('div', { class: 'banner', hidden: true }, text, button);
  let final = false;

  const update = ({ state, message }) => {
    indicator.dataset.state = state;
    banner.dataset.state = state;
    label.textContent = WORDS[state];
    text.textContent = message;
    banner.hidden = !(state === 'reconnecting' || state === 'disconnected') || !message;
    button.hidden = final;
    button.textContent = state === 'disconnected' ? 'Reconnect' : 'Retry now';
  };
  const onStatus = (e) => update(e.detail);
  const onFinal = () => { final = true; update({ state: socket.state, message: socket.message }); };
  socket.addEventListener('status', onStatus);
  socket.addEventListener('final', onFinal);
  update({ state: socket.state, message: socket.message });
  return {
    indicator,
    banner,
    destroy() {
      socket.removeEventListener('status', onStatus);
      socket.removeEventListener('final', onFinal);
    },
  };
}
