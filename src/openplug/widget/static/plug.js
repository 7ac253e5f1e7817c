/* openplug loader: window.plugSDK. Injects a launcher and the chat iframe
 * (served by openplug, from the host this file came from) and talks to it
 * with postMessage only. Tokens go to the frame by postMessage, never in a URL. */
(() => {
  'use strict';
  if (window.plugSDK) return;
  const me = document.currentScript;
  const base = new URL('.', me ? me.src : location.href); // .../static/
  const ORIGIN = base.origin;
  const ROOT = new URL('..', base).href; // where openplug is mounted
  const listeners = new Set();
  let w = null; // the running widget, null before init and after shutdown

  const emit = (type, extra) => {
    for (const cb of listeners) {
      try { cb({ type, ...extra }); } catch (e) { console.error('plugSDK listener', e); }
    }
  };
  const post = (msg) => w && w.frame.contentWindow &&
    w.frame.contentWindow.postMessage({ plug: 1, ...msg }, ORIGIN);

  const css = (el, styles) => Object.assign(el.style, styles);

  function place() {
    const { frame, launcher, opts } = w;
    const sp = opts.spacing || {};
    const bottom = Number(sp.bottom ?? 20), side = Number(sp.side ?? 20);
    const edge = opts.widget_alignment === 'left' ? 'left' : 'right';
    const small = innerWidth <= 480;
    css(frame, small
      ? { left: '0', right: '0', top: '0', bottom: '0', width: '100%', height: '100%', borderRadius: '0' }
      : { [edge]: side + 'px', bottom: bottom + 68 + 'px', width: '380px', borderRadius: '12px',
          height: `min(620px, calc(100vh - ${bottom + 88}px))` });
    if (launcher) css(launcher, { [edge]: side + 'px', bottom: bottom + 'px' });
  }

  function setOpen(open) {
    if (!w || !w.ready || open === w.open) return;
    w.open = open;
    w.frame.style.display = open ? 'block' : 'none';
    if (w.launcher) {
      w.launcher.setAttribute('aria-expanded', String(open));
      w.launcher.setAttribute('aria-label', open ? 'Close support chat' : 'Open support chat');
    }
    post({ type: open ? 'open' : 'close' });
    if (open) w.frame.focus();
    else if (w.launcher) w.launcher.focus();
    emit(open ? 'ON_PLUG_WIDGET_OPENED' : 'ON_PLUG_WIDGET_CLOSED');
  }

  async function renew() {
    const provider = w && w.opts.session_token_provider;
    if (typeof provider !== 'function') return;
    try {
      const token = await provider();
      if (token && w) post({ type: 'token', token: String(token) });
    } catch (e) {
      emit('ON_PLUG_ERROR', { error: 'session_token_provider failed', detail: String(e) });
    }
  }

  function onMessage(ev) {
    // Only our own frame, from openplug's origin, is listened to.
    if (!w || ev.source !== w.frame.contentWindow || ev.origin !== ORIGIN) return;
    const m = ev.data;
    if (!m || m.plug !== 1) return;
    switch (m.type) {
      case 'hello': {
        const o = w.opts;
        post({ type: 'init', session_token: o.session_token || null, theme: o.theme || 'system' });
        break;
      }
      case 'ready':
        w.ready = true;
        emit('ON_PLUG_WIDGET_READY');
        break;
      case 'close': setOpen(false); break;
      case 'unread': emit('ON_PLUG_UNREAD_COUNT', { count: m.count }); break;
      case 'session_expired':
        emit('ON_PLUG_SESSION_EXPIRED', { reason: m.reason });
        renew();
        break;
      case 'token_expiring': renew(); break;
      case 'error': emit('ON_PLUG_ERROR', { error: m.error }); break;
      case 'shutdown_done': if (w.onShutdown) w.onShutdown(); break;
    }
  }

  function init(opts = {}) {
    if (w) { console.warn('plugSDK.init: already initialised; call shutdown() first'); return; }
    if (!opts.app_id) { emit('ON_PLUG_ERROR', { error: 'init needs an app_id' }); return; }
    w = { opts, ready: false, open: false, launcher: null };
    const frame = w.frame = document.createElement('iframe');
    frame.id = 'plug-widget-frame';
    frame.title = 'Support chat';
    frame.src = `${ROOT}widget/frame?app_id=${encodeURIComponent(opts.app_id)}`;
    frame.setAttribute('referrerpolicy', 'origin');
    css(frame, { position: 'fixed', zIndex: '2147483647', border: '0', display: 'none',
      boxShadow: '0 8px 32px rgba(0,0,0,.25)', background: '#fff',
      maxWidth: '100vw', maxHeight: '100vh' });
    if (opts.enable_default_launcher !== false) {
      const b = w.launcher = document.createElement('button');
      b.type = 'button';
      b.id = 'plug-widget-launcher';
      b.setAttribute('aria-label', 'Open support chat');
      b.setAttribute('aria-expanded', 'false');
      b.setAttribute('aria-controls', frame.id);
      // A speech bubble as SVG (no emoji font needed; no innerHTML, so host
      // pages enforcing Trusted Types are fine).
      const NS = 'http://www.w3.org/2000/svg';
      const svg = document.createElementNS(NS, 'svg');
      const path = document.createElementNS(NS, 'path');
      for (const [k, v] of [['width', 28], ['height', 28], ['viewBox', '0 0 24 24'], ['aria-hidden', 'true']]) svg.setAttribute(k, v);
      path.setAttribute('fill', 'currentColor');
      path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
      svg.append(path);
      b.append(svg);
      css(b, { position: 'fixed', zIndex: '2147483646', width: '56px', height: '56px',
        borderRadius: '50%', border: '0', cursor: 'pointer', padding: '0', lineHeight: '0',
        background: '#2456d3', color: '#fff', boxShadow: '0 4px 16px rgba(0,0,0,.3)' });
      b.addEventListener('click', () => toggleWidget());
      document.body.append(b);
    }
    if (opts.custom_launcher_selector) {
      w.custom = (e) => {
        if (e.target instanceof Element && e.target.closest(opts.custom_launcher_selector)) {
          toggleWidget();
        }
      };
      document.addEventListener('click', w.custom);
    }
    w.resize = place;
    addEventListener('resize', place);
    place();
    document.body.append(frame);
  }

  function teardown() {
    if (!w) return;
    w.frame.remove();
    if (w.launcher) w.launcher.remove();
    if (w.custom) document.removeEventListener('click', w.custom);
    removeEventListener('resize', w.resize);
    w = null;
  }

  function shutdown() {
    if (!w) return Promise.resolve();
    const cur = w;
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); if (w === cur) teardown(); resolve(); };
      // The frame logs out on the server; a frame that never loaded cannot.
      const timer = setTimeout(done, 5000);
      cur.onShutdown = done;
      if (cur.ready) post({ type: 'shutdown' }); else done();
    });
  }

  function toggleWidget(open) {
    if (w) setOpen(open === undefined ? !w.open : Boolean(open));
  }

  addEventListener('message', onMessage);
  window.plugSDK = {
    init,
    shutdown,
    toggleWidget,
    onEvent: (cb) => { if (typeof cb === 'function') listeners.add(cb); },
    isPlugInitialized: () => Boolean(w && w.ready),
    updateSessionToken: (token) => { if (w && token) { w.opts.session_token = token; post({ type: 'token', token: String(token) }); } },
  };
})();
