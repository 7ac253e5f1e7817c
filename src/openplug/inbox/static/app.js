// The inbox page's shell: who is signed in (else the sign-in form), the top
// bar, and which view the path asks for: /inbox (conversations) or
// /inbox/settings/<section>.

import { api, describeError, getJson, onSignedOut } from './api.js';
import { h, mount } from './dom.js';
import { InboxView } from './conversations.js';
import { SETTINGS_SECTIONS, renderSettings } from './settings.js';

const root = document.getElementById('app');
let agent = null;
let current = null; // the mounted view, for unmount()

onSignedOut(() => {
  if (agent !== null) showSignIn('Your sign-in has ended. Please sign in again.');
});

async function boot() {
  try {
    agent = (await getJson('/inbox/me')).agent;
  } catch (e) {
    showSignIn();
    return;
  }
  route();
}

function showSignIn(notice) {
  agent = null;
  unmountCurrent();
  const error = h('p', { class: 'error', role: 'alert', id: 'sign-in-error' });
  const email = h('input', { id: 'email', name: 'email', type: 'email', required: true,
    autocomplete: 'username', autofocus: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password',
    required: true, autocomplete: 'current-password' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'sign-in', 'aria-describedby': 'sign-in-error',
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      error.textContent = '';
      try {
        agent = (await api('/inbox/sign-in', { email: email.value, password: password.value })).agent;
        route();
      } catch (err) {
        error.textContent = describeError(err);
        password.select();
      } finally {
        button.disabled = false;
      }
    } },
    h('h1', {}, 'openplug inbox'),
    notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
    h('label', { for: 'email' }, 'Email'), email,
    h('label', { for: 'password' }, 'Password'), password,
    button, error,
    h('p', { class: 'hint' },
      'Forgot it? An operator can run ', h('code', {}, 'openplug agents set-password EMAIL'), '.'));
  mount(root, h('main', { class: 'centered' }, form));
  email.focus();
}

function navLink(href, label, active) {
  return h('a', { href, 'aria-current': active ? 'page' : null, onclick: (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    history.pushState(null, '', href);
    route();
  } }, label);
}

function route() {
  if (agent === null) return;
  const path = location.pathname.replace(/\/+$/, '');
  const settings = path.startsWith('/inbox/settings');
  let section = settings ? path.split('/')[3] || SETTINGS_SECTIONS[0].id : null;
  if (settings && !SETTINGS_SECTIONS.some((s) => s.id === section)) section = SETTINGS_SECTIONS[0].id;

  unmountCurrent();
  const status = h('span', { class: 'live-status', role: 'status', id: 'live-status' });
  const view = h('main', { id: 'view', class: settings ? 'settings' : 'inbox' });
  const bar = h('header', { class: 'topbar' },
    h('span', { class: 'brand' }, 'openplug'),
    h('nav', { 'aria-label': 'Main' },
      navLink('/inbox', 'Inbox', !settings),
      navLink(`/inbox/settings/${section || SETTINGS_SECTIONS[0].id}`, 'Settings', settings)),
    status,
    h('span', { class: 'who' }, agent.display_name, ' ', h('small', {}, agent.email)),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
  mount(root, bar, view);
  const ctx = { agent, status, navigate: (href) => { history.pushState(null, '', href); route(); } };
  if (settings) {
    document.title = 'Settings · openplug';
    current = renderSettings(view, section, ctx) || null;
  } else {
    document.title = 'Inbox · openplug';
    current = new InboxView(view, ctx);
  }
}

function unmountCurrent() {
  if (current && current.unmount) current.unmount();
  current = null;
}

async function signOut() {
  try {
    await api('/inbox/sign-out');
  } finally {
    showSignIn('You have signed out.');
  }
}

window.addEventListener('popstate', route);
boot();
