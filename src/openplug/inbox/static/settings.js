// Settings pages: PLuG tokens (AATs), apps, custom attributes.

import { h, mount } from './dom.js';

export const SETTINGS_SECTIONS = [
  { id: 'tokens', label: 'PLuG tokens' },
  { id: 'apps', label: 'Apps' },
  { id: 'attributes', label: 'Custom attributes' },
];

/** Draw one settings section into `view`; returns an object with unmount(). */
export function renderSettings(view, section, ctx) {
  const nav = h('nav', { class: 'settings-nav', 'aria-label': 'Settings' },
    SETTINGS_SECTIONS.map((s) => h('a', {
      href: `/inbox/settings/${s.id}`,
      'aria-current': s.id === section ? 'page' : null,
      onclick: (e) => { e.preventDefault(); ctx.navigate(`/inbox/settings/${s.id}`); },
    }, s.label)));
  const body = h('section', { class: 'settings-body', 'aria-labelledby': 'settings-title' },
    h('h1', { id: 'settings-title' }, SETTINGS_SECTIONS.find((s) => s.id === section).label));
  mount(view, nav, body);
  return { unmount() {} };
}
