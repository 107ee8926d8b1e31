/*
 * auth.js -- signing up and logging in (POST /api/auth/register/ and
 * /api/auth/login/).  The answer sets the HttpOnly session cookie, which
 * the browser then sends with every API call and WebSocket handshake on
 * this origin, so no token is kept by the page.  Owns the two forms and
 * switching between them.
 */
import { api } from './api.js';
import { el, onSubmit } from './ui.js';

function field(id, labelText, attrs) {
  return el('div', { class: 'field' },
    el('label', { for: id, text: labelText }),
    el('input', { id, name: id.replace(/^(login|signup)-/, ''), required: true, ...attrs }));
}

function loginForm(onDone) {
  const form = el('form', { class: 'stack', 'aria-labelledby': 'login-h' },
    el('h2', { id: 'login-h', text: 'Log in' }),
    field('login-username', 'Username or email', { autocomplete: 'username' }),
    field('login-password', 'Password', { type: 'password', autocomplete: 'current-password' }),
    el('button', { type: 'submit', class: 'primary', text: 'Log in' }));
  onSubmit(form, async (data) => {
    const who = String(data.get('username')).trim();
    const body = { password: data.get('password') };
    body[who.includes('@') ? 'email' : 'username'] = who;
    try {
      const { user } = await api.post('/api/auth/login/', body);
      onDone(user);
    } catch (err) {
      if (err.status === 401) throw new Error('Wrong username, email or password.');
      throw err;
    }
  });
  return form;
}

function signupForm(onDone) {
  const form = el('form', { class: 'stack', 'aria-labelledby': 'signup-h' },
    el('h2', { id: 'signup-h', text: 'Sign up' }),
    field('signup-username', 'Username', { autocomplete: 'username', maxlength: '150',
      pattern: '[A-Za-z0-9@.+_\\-]+', title: 'Letters, digits and @ . + - _' }),
    field('signup-email', 'Email', { type: 'email', autocomplete: 'email' }),
    field('signup-password', 'Password (8 characters or more)', { type: 'password', minlength: '8',
      autocomplete: 'new-password' }),
    el('button', { type: 'submit', class: 'primary', text: 'Sign up' }));
  onSubmit(form, async (data) => {
    try {
      const { user } = await api.post('/api/auth/register/',
        { username: data.get('username'), email: data.get('email'), password: data.get('password') });
      onDone(user);
    } catch (err) {
      if (err.code === 'exists') throw new Error('That username or email is taken.');
      throw err;
    }
  });
  return form;
}

/* Fill root with the forms; onDone(user) once logged in. */
export function showAuth(root, onDone) {
  const login = loginForm(onDone);
  const signup = signupForm(onDone);
  const toggle = el('button', { type: 'button', class: 'link' });
  const show = (which) => {
    login.hidden = which !== 'login';
    signup.hidden = which !== 'signup';
    toggle.textContent = which === 'login' ? 'New here? Sign up' : 'Have an account? Log in';
    (which === 'login' ? login : signup).querySelector('input').focus();
  };
  toggle.addEventListener('click', () => show(login.hidden ? 'login' : 'signup'));
  root.replaceChildren(el('main', { id: 'main', class: 'auth' },
    el('h1', { text: 'chanhost chat' }),
    el('p', { class: 'hint', text: 'Sign up, then open a second browser window as another user to chat.' }),
    login, signup, toggle,
    el('p', { class: 'hint' }, el('a', { href: '/chat-ws-test/', text: 'WebSocket test page' }))));
  show('login');
}
