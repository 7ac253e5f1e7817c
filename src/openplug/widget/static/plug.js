/* openplug loader: window.plugSDK, with DevRev's documented names and value
 * types (see the README's widget section). Injects a launcher and the chat
 * iframe (served by openplug, from the host this file came from) and talks
 * to it with postMessage only. Tokens go to the frame by postMessage, never
 * in a URL. No method throws into the host page: a misuse or a feature
 * openplug does not have is an ON_PLUG_ERROR event. */
(() => {
  'use strict';
  if (window.plugSDK) return;
  const me = document.currentScript;
  const base = new URL('.', me ? me.src : location.href); // .../static/
  const ORIGIN = base.origin;
  const ROOT = new URL('..', base).href; // where openplug is mounted
  const LAUNCHER = 56; // px
  const EDGE = 20; // px between the launcher and the side of the page, before spacing.side
  const listeners = new Set();
  const unsupportedSaid = new Set(); // each missing product is reported once per page
  let w = null; // the running widget, null before init and after shutdown

  const emit = (type, extra) => {
    for (const cb of listeners) {
      try { cb({ type, ...extra }); } catch (e) { console.error('plugSDK listener', e); }
    }
  };
  const fail = (code, error, extra) => emit('ON_PLUG_ERROR', { code, error, ...extra });
  // DevRev's search agent and session recording are products openplug does
  // not have: their calls do nothing, and say so once.
  const notSupported = (feature, method) => {
    if (unsupportedSaid.has(feature)) return;
    unsupportedSaid.add(feature);
    const what = feature === 'search_agent' ? 'a search agent' : 'session recording';
    fail('not_supported', `openplug has no ${what} (${method} does nothing)`, { feature, method });
  };
  const post = (msg) => w && w.frame.contentWindow &&
    w.frame.contentWindow.postMessage({ plug: 1, ...msg }, ORIGIN);
  // The page the visitor is on, for agents; the fragment stays in the browser.
  const here = () => { const u = new URL(location.href); u.hash = ''; return u.href.slice(0, 2048); };

  const css = (el, styles) => Object.assign(el.style, styles);

  // spacing: {bottom: '10px', side: '0px'} as DevRev documents it; a number
  // is taken as pixels. Anything else is reported and the default used.
  const LENGTH = /^-?\d+(\.\d+)?(px|rem|em|vh|vw|%)$/;
  function length(value, fallback, field) {
    if (value === undefined || value === null || value === '') return fallback;
    if (typeof value === 'number' && Number.isFinite(value)) return `${value}px`;
    if (typeof value === 'string' && (LENGTH.test(value.trim()) || value.trim() === '0')) {
      return value.trim() === '0' ? '0px' : value.trim();
    }
    fail('invalid_option', `${field} must be a CSS length such as '10px' or a number of pixels`, { field });
    return fallback;
  }
  const HEX = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;
  function color(value, field) {
    if (value === undefined || value === null || value === '') return null;
    if (typeof value === 'string' && HEX.test(value)) return value;
    fail('invalid_option', `${field} must be a hex color code such as #f0f0f0`, { field });
    return null;
  }
  const theme = (t) => (t === 'dark' || t === 'light' || t === 'system' ? t : null);

  function place() {
    const { frame, launcher, layout } = w;
    const small = innerWidth <= 480;
    const side = `calc(${EDGE}px + ${layout.side})`;
    css(frame, small
      ? { left: '0', right: '0', top: '0', bottom: '0', width: '100%', height: '100%', borderRadius: '0' }
      : { left: '', right: '', top: '', [layout.edge]: side,
          bottom: `calc(${layout.bottom} + ${LAUNCHER + 12}px)`, width: '380px', borderRadius: '12px',
          height: `min(620px, calc(100vh - ${layout.bottom} - ${LAUNCHER + 32}px))` });
    if (launcher) css(launcher, { [layout.edge]: side, bottom: layout.bottom });
  }

  function setOpen(open) {
    if (!w || w.chatDisabled) return;
    if (!w.ready) { w.pendingOpen = open; return; }
    if (open === w.open) return;
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
      fail('session_token_provider', 'session_token_provider failed', { detail: String(e) });
    }
  }

  // Sent to the frame as soon as it can hear; before that, kept in order.
  function toFrame(msg) {
    if (!w) return;
    if (w.ready) post(msg); else w.queue.push(msg);
  }

  function onMessage(ev) {
    // Only our own frames, from openplug's origin, are listened to.
    if (ev.origin !== ORIGIN) return;
    const m = ev.data;
    if (!m || m.plug !== 1) return;
    if (closing.has(ev.source)) { if (m.type === 'shutdown_done') closing.get(ev.source)(); return; }
    if (!w || ev.source !== w.frame.contentWindow) return;
    switch (m.type) {
      case 'hello': {
        const o = w.opts;
        const identity = o.identity && typeof o.identity === 'object' && !o.session_token ? o.identity : null;
        post({ type: 'init', session_token: o.session_token || null, theme: w.theme,
          identity, accent_color: w.colors.accent, primary_text_color: w.colors.text, page_url: here() });
        break;
      }
      case 'ready': {
        w.ready = true;
        for (const msg of w.queue.splice(0)) post(msg);
        emit('ON_PLUG_WIDGET_READY');
        // What openplug has of session analytics: trackEvent and
        // addSessionProperties record from here on.
        emit('ON_OBSERVABILITY_READY');
        if (w.pendingOpen !== undefined) { const open = w.pendingOpen; delete w.pendingOpen; setOpen(open); }
        break;
      }
      case 'close': setOpen(false); break;
      case 'unread':
        emit('ON_PLUG_WIDGET_UNREAD_COUNT_CHANGE', { count: m.count });
        emit('ON_PLUG_UNREAD_COUNT', { count: m.count }); // openplug's earlier name, kept
        break;
      case 'conversation_start':
        emit('ON_CONVERSATION_START', { conversation: m.conversation });
        break;
      case 'session_expired':
        emit('ON_PLUG_SESSION_EXPIRED', { reason: m.reason });
        renew();
        break;
      case 'token_expiring': renew(); break;
      case 'error': emit('ON_PLUG_ERROR', { code: m.code || 'error', error: m.error }); break;
    }
  }

  function init(opts) {
    if (w) { console.warn('plugSDK.init: already initialised; call shutdown() first'); return; }
    if (!opts || typeof opts !== 'object') opts = {};
    if (!opts.app_id || typeof opts.app_id !== 'string') {
      fail('invalid_option', 'init needs an app_id', { field: 'app_id' });
      return;
    }
    if (opts.enable_session_recording || opts.session_recording_key || opts.session_recording_options) {
      notSupported('session_recording', 'init');
    }
    const t = opts.theme === undefined ? 'light' : theme(opts.theme);
    if (t === null) fail('invalid_option', "theme must be 'light' or 'dark'", { field: 'theme' });
    const sp = opts.spacing && typeof opts.spacing === 'object' ? opts.spacing : {};
    w = { opts, ready: false, open: false, launcher: null, queue: [],
      chatDisabled: opts.disable_plug_chat_window === true,
      theme: t || 'light',
      colors: { accent: color(opts.accent_color, 'accent_color'),
        text: color(opts.primary_text_color, 'primary_text_color') },
      layout: { edge: opts.widget_alignment === 'left' ? 'left' : 'right',
        bottom: length(sp.bottom, '10px', 'spacing.bottom'), side: length(sp.side, '0px', 'spacing.side') } };
    session.start(opts.session_recording_options);
    const frame = w.frame = document.createElement('iframe');
    frame.id = 'plug-widget-frame';
    frame.title = 'Support chat';
    frame.src = `${ROOT}widget/frame?app_id=${encodeURIComponent(opts.app_id)}`;
    frame.setAttribute('referrerpolicy', 'origin');
    css(frame, { position: 'fixed', zIndex: '2147483647', border: '0', display: 'none',
      boxShadow: '0 8px 32px rgba(0,0,0,.25)', background: w.theme === 'dark' ? '#16191d' : '#fff',
      maxWidth: '100vw', maxHeight: '100vh' });
    if (opts.enable_default_launcher !== false && !opts.custom_launcher_selector && !w.chatDisabled) {
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
      css(b, { position: 'fixed', zIndex: '2147483646', width: `${LAUNCHER}px`, height: `${LAUNCHER}px`,
        borderRadius: '50%', border: '0', cursor: 'pointer', padding: '0', lineHeight: '0',
        background: w.colors.accent || '#2456d3', color: w.colors.text || '#fff',
        boxShadow: '0 4px 16px rgba(0,0,0,.3)' });
      b.addEventListener('click', () => toggleWidget());
      document.body.append(b);
    }
    if (opts.custom_launcher_selector && typeof opts.custom_launcher_selector === 'string') {
      w.custom = (e) => {
        let hit = false;
        try { hit = e.target instanceof Element && Boolean(e.target.closest(opts.custom_launcher_selector)); } catch {
          fail('invalid_option', 'custom_launcher_selector is not a valid CSS selector', { field: 'custom_launcher_selector' });
          document.removeEventListener('click', w.custom);
        }
        if (hit) toggleWidget();
      };
      document.addEventListener('click', w.custom);
    }
    w.resize = place;
    addEventListener('resize', place);
    place();
    document.body.append(frame);
  }

  // Frames logging out after shutdown(), by window: their goodbye ends them.
  const closing = new Map();

  // shutdown() detaches the widget at once, so that init() may follow
  // straight away, as DevRev's "Changing the user identity" does without
  // awaiting; the old frame stays (hidden) until it has logged out on the
  // server, which the returned promise waits for.
  function shutdown() {
    if (!w) return Promise.resolve();
    const cur = w;
    w = null;
    if (cur.launcher) cur.launcher.remove();
    if (cur.custom) document.removeEventListener('click', cur.custom);
    removeEventListener('resize', cur.resize);
    cur.frame.style.display = 'none';
    cur.frame.removeAttribute('id');
    const win = cur.frame.contentWindow;
    return new Promise((resolve) => {
      let timer = 0;
      const done = () => { clearTimeout(timer); closing.delete(win); cur.frame.remove(); resolve(); };
      if (!cur.ready || !win) { done(); return; }
      closing.set(win, done);
      // A frame that cannot answer is removed anyway.
      timer = setTimeout(done, 5000);
      win.postMessage({ plug: 1, type: 'shutdown' }, ORIGIN);
    });
  }

  // toggleWidget(open?, view?, {startConversationContent}): DevRev's one
  // view is 'create_conversation', the new-conversation screen, pre-filled.
  function toggleWidget(open, view, options) {
    if (!w) return;
    const wanted = open === undefined ? !(w.ready ? w.open : w.pendingOpen) : Boolean(open);
    if (wanted && view === 'create_conversation') {
      const content = options && options.startConversationContent;
      toFrame({ type: 'create_conversation', content: typeof content === 'string' ? content : '' });
    } else if (wanted && view !== undefined && view !== null) {
      fail('invalid_option', "toggleWidget's view is 'create_conversation'", { field: 'view' });
    }
    setOpen(wanted);
  }

  function toggleTheme(t) {
    if (!w) return;
    const next = t === undefined ? (w.theme === 'dark' ? 'light' : 'dark') : theme(t);
    if (next === null) { fail('invalid_option', "toggleTheme takes 'light' or 'dark'", { field: 'theme' }); return; }
    w.theme = next;
    w.frame.style.background = next === 'dark' ? '#16191d' : '#fff';
    toFrame({ type: 'theme', theme: next });
  }

  const plainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

  function updateIdentity(identity) {
    if (!w) return;
    if (!plainObject(identity) || !plainObject(identity.user_traits)) {
      fail('invalid_option', 'updateIdentity takes {user_traits: {...}}', { field: 'user_traits' });
      return;
    }
    toFrame({ type: 'update_identity', user_traits: identity.user_traits });
  }

  function trackEvent(eventName, properties) {
    if (!w) return;
    if (typeof eventName !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(eventName)) {
      fail('invalid_option', 'trackEvent: the event name is 1 to 64 letters, digits, _ or -', { field: 'event_name' });
      return;
    }
    if (properties !== undefined && !plainObject(properties)) {
      fail('invalid_option', 'trackEvent: properties must be an object', { field: 'properties' });
      return;
    }
    toFrame({ type: 'track', event_name: eventName, properties: properties || {}, page_url: here() });
  }

  function addSessionProperties(properties) {
    if (!w) return;
    if (!plainObject(properties)) {
      fail('invalid_option', 'addSessionProperties takes an object of key-value pairs', { field: 'properties' });
      return;
    }
    toFrame({ type: 'session_properties', properties, page_url: here() });
  }

  // getSessionDetails: ids of this browsing session (kept for the tab's
  // life in sessionStorage) and of this page. A later init may continue
  // them with session_recording_options.sessionDetails, as DevRev's page shows.
  const SESSION_KEY = 'openplug:session';
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(''));
  const session = {
    sessionId: null, tabId: null,
    start(options) {
      const given = options && options.sessionDetails;
      if (given && typeof given.sessionId === 'string' && typeof given.tabId === 'string') {
        this.sessionId = given.sessionId;
        this.tabId = given.tabId;
      }
      if (!this.sessionId) {
        try { this.sessionId = sessionStorage.getItem(SESSION_KEY); } catch { /* storage blocked */ }
        this.sessionId ||= uuid();
      }
      try { sessionStorage.setItem(SESSION_KEY, this.sessionId); } catch { /* storage blocked */ }
      this.tabId ||= uuid();
    },
  };

  addEventListener('message', onMessage);
  const sdk = {
    init,
    shutdown,
    toggleWidget,
    toggleTheme,
    onEvent: (cb) => { if (typeof cb === 'function') listeners.add(cb); },
    updateIdentity,
    trackEvent,
    addSessionProperties,
    getSessionDetails: () => {
      if (!session.sessionId) session.start();
      return { sessionId: session.sessionId, tabId: session.tabId };
    },
    restartSessionRecording: () => notSupported('session_recording', 'restartSessionRecording'),
    initSearchAgent: () => notSupported('search_agent', 'initSearchAgent'),
    toggleSearchAgent: () => notSupported('search_agent', 'toggleSearchAgent'),
    prefillSearchQuery: () => notSupported('search_agent', 'prefillSearchQuery'),
    // openplug's own: a fresh session token for a running widget.
    updateSessionToken: (token) => {
      if (w && token) { w.opts.session_token = token; post({ type: 'token', token: String(token) }); }
    },
  };
  // DevRev documents these as properties, read without calling them.
  Object.defineProperties(sdk, {
    isPlugInitialized: { get: () => Boolean(w && w.ready), enumerable: true },
    isWidgetOpen: { get: () => Boolean(w && w.open), enumerable: true },
    isSearchAgentOpen: { get: () => false, enumerable: true },
  });
  window.plugSDK = sdk;
})();
