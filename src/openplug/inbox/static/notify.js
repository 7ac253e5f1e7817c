// Telling an agent who is not looking that a visitor wrote: a desktop
// notification (the browser's Notification API), an optional short tone
// (WebAudio, generated: no sound file), and the count of new visitor
// messages in the tab's title while the tab is hidden ("(3) Inbox ·
// openplug"), cleared when the tab is seen again.
//
// The browser's permission is asked for only from a click on "Enable
// desktop notifications", never on load: a prompt nobody asked for is one
// people learn to refuse. What the agent chose (desktop on/off, sound) is
// kept in this browser's localStorage; which mails they get is kept on the
// server (dev-users.self.update), since mails go out when no inbox is open.

import { api, describeError } from './api.js';
import { h, mount } from './dom.js';

const DESKTOP_KEY = 'openplug.inbox.desktop'; // "off": the agent turned them off here
const SOUND_KEY = 'openplug.inbox.sound'; // "on": off by default

const MAIL_CHOICES = [
  ['all', 'Every conversation'],
  ['mine', 'Only conversations assigned to me'],
  ['none', 'Nothing'],
];

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch (e) {
    return null; // storage blocked: defaults apply
  }
}

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch (e) {
    // storage blocked: the choice lasts until the page is left
  }
}

export class Notifier {
  /** onOpen(key): the agent clicked a notification for conversation `key`. */
  constructor({ onOpen }) {
    this.onOpen = onOpen;
    this.baseTitle = document.title;
    this.unseen = 0;
    this.audio = null;
    this.onVisibility = () => { if (!document.hidden) this.resetTitle(); };
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  stop() {
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.resetTitle();
  }

  resetTitle() {
    this.unseen = 0;
    document.title = this.baseTitle;
  }

  get permission() {
    return 'Notification' in window ? Notification.permission : 'unsupported';
  }

  get desktopOn() {
    return this.permission === 'granted' && stored(DESKTOP_KEY) !== 'off';
  }

  get soundOn() {
    return stored(SOUND_KEY) === 'on';
  }

  /** From a click only. Resolves to the browser's answer. */
  async enableDesktop() {
    store(DESKTOP_KEY, null);
    if (this.permission === 'default') await Notification.requestPermission();
    return this.permission;
  }

  disableDesktop() {
    store(DESKTOP_KEY, 'off');
  }

  /** From a click, which is also what lets the browser start the audio. */
  setSound(on) {
    store(SOUND_KEY, on ? 'on' : null);
    if (on) this.tone();
  }

  /**
   * A visitor wrote in conversation `key`. `looking`: it is the one open in
   * this inbox, so with the tab visible the agent sees it already.
   */
  visitorMessage({ key, conversationId, author, body, isNew, looking }) {
    if (document.hidden) {
      this.unseen += 1;
      document.title = `(${this.unseen}) ${this.baseTitle}`;
    }
    if (looking && !document.hidden) return;
    if (this.desktopOn) this.show(key, conversationId, isNew ? `New conversation: ${author}` : author, body);
    if (this.soundOn) this.tone();
  }

  show(key, conversationId, title, body) {
    let n;
    try {
      // One per conversation: a burst of messages replaces, not piles up.
      n = new Notification(title, { body: body.slice(0, 200), tag: conversationId });
    } catch (e) {
      return; // e.g. a browser that only notifies from a service worker
    }
    n.onclick = () => {
      window.focus();
      this.onOpen(key);
      n.close();
    };
  }

  tone() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      const ctx = this.audio || (this.audio = new Context());
      if (ctx.state === 'suspended') ctx.resume();
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const t = ctx.currentTime;
      osc.type = 'sine';
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(660, t + 0.12);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.3);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.32);
    } catch (e) {
      // no audio device: the tone is a nicety
    }
  }
}

/**
 * The small preferences panel: desktop notifications, sound, and which
 * mails the agent gets (ctx.agent.mail_notifications, from /inbox/me).
 */
export function preferencesPanel(notifier, ctx) {
  const desktop = h('div', { class: 'pref-row' });
  const renderDesktop = () => {
    const permission = notifier.permission;
    if (permission === 'unsupported') {
      mount(desktop, h('span', { class: 'hint' }, 'This browser cannot show desktop notifications.'));
    } else if (permission === 'denied') {
      mount(desktop, h('span', { class: 'hint' },
        'Desktop notifications are blocked: allow them for this site in the browser\u2019s settings.'));
    } else if (notifier.desktopOn) {
      mount(desktop, h('span', {}, 'Desktop notifications are on.'), ' ',
        h('button', { type: 'button', class: 'link', onclick: () => { notifier.disableDesktop(); renderDesktop(); } },
          'Turn off'));
    } else {
      mount(desktop, h('button', { type: 'button', onclick: async (e) => {
        e.target.disabled = true;
        await notifier.enableDesktop();
        renderDesktop();
      } }, 'Enable desktop notifications'));
    }
  };
  renderDesktop();

  const sound = h('input', { type: 'checkbox', id: 'pref-sound', checked: notifier.soundOn,
    onchange: (e) => notifier.setSound(e.target.checked) });

  const mailStatus = h('span', { class: 'pref-status', role: 'status' });
  const mail = h('select', { id: 'pref-mail', onchange: async () => {
    const previous = ctx.agent.mail_notifications;
    mail.disabled = true;
    mailStatus.textContent = 'Saving…';
    try {
      const { dev_user: me } = await api('dev-users.self.update', { mail_notifications: mail.value });
      ctx.agent.mail_notifications = me.mail_notifications;
      mailStatus.textContent = 'Saved';
    } catch (err) {
      mail.value = previous;
      mailStatus.textContent = describeError(err);
    } finally {
      mail.disabled = false;
    }
  } }, MAIL_CHOICES.map(([value, label]) =>
    h('option', { value, selected: ctx.agent.mail_notifications === value }, label)));

  return h('details', { class: 'prefs' },
    h('summary', {}, 'Notifications'),
    desktop,
    h('div', { class: 'pref-row check' }, sound, h('label', { for: 'pref-sound' }, 'Play a sound for new messages')),
    h('div', { class: 'pref-row' }, h('label', { for: 'pref-mail' }, 'Email me, when no inbox of mine is open, about'),
      mail, mailStatus));
}
