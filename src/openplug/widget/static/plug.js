/* openplug loader: window.plugSDK as DevRev documents it (README: the
 * widget). Every page loads it, so it only draws the launcher and the chat
 * iframe and hands other calls to the frame (postMessage only; tokens never
 * in a URL). It never throws into the page: a misuse, or a DevRev product
 * openplug lacks, is an ON_PLUG_ERROR. */
(() => {
  'use strict';
  if (window.plugSDK) return;
  const me = document.currentScript;
  const base = new URL('.', me ? me.src : location.href); // .../static/
  const ORIGIN = base.origin;
  const ROOT = new URL('..', base).href; // where openplug is mounted
  const listeners = new Set();
  const said = new Set(); // each missing product is reported once per page
  const closing = new Map(); // frames logging out after shutdown(), by window
  let w = null; // the running widget, null before init and after shutdown

  const emit = (type, extra) => {
    for (const cb of listeners) {
      try { cb({ type, ...extra }); } catch (e) { console.error('plugSDK listener', e); }
    }
  };
  const fail = (code, error, field) => emit('ON_PLUG_ERROR', { code, error, field });
  // DevRev's search agent and session recording: their calls do nothing and say so, once.
  const unsupported = (feature, method) => () => {
    if (said.has(feature)) return;
    said.add(feature);
    emit('ON_PLUG_ERROR', { code: 'not_supported', feature, method, error: 'openplug has no ' + feature.replace('_', ' ') });
  };
  const post = (msg, to = w) => {
    try { to.frame.contentWindow.postMessage({ plug: 1, ...msg }, ORIGIN); } catch (e) { fail('invalid_option', String(e)); }
  };
  // Sent as soon as the frame can hear; before that, kept in order.
  const toFrame = (msg) => w && (w.ready ? post(msg) : w.queue.push(msg));
  // The page the visitor is on, for agents (the fragment stays in the browser).
  const here = () => { const u = new URL(location.href); u.hash = ''; return u.href.slice(0, 2048); };
  const css = (el, styles) => Object.assign(el.style, styles);
  // A new element with attributes (no innerHTML: host pages enforcing
  // Trusted Types are fine) and inline CSS.
  const make = (tag, attrs, style, ns) => {
    const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (style) el.style.cssText = style;
    return el;
  };
  // spacing: DevRev's '10px' (a CSS length), or a number of pixels.
  const len = (v, dflt, field) => {
    if (v == null || v === '') return dflt;
    v = typeof v === 'number' ? v + 'px' : String(v);
    if (CSS.supports('bottom', v) && !/^(auto|inherit|initial|unset|revert)/.test(v)) return v;
    fail('invalid_option', `${field}: a length such as '10px'`, field);
    return dflt;
  };
  const hex = (v) => (/^#([0-9a-f]{3}){1,2}$/i.test(v) ? v : null);

  function place() {
    const { frame, launcher, edge, bottom, side } = w;
    const x = `calc(20px + ${side})`;
    css(frame, innerWidth <= 480
      ? { left: '0', right: '0', top: '0', bottom: '0', width: '100%', height: '100%', borderRadius: '0' }
      : { [edge]: x, bottom: `calc(${bottom} + 68px)`, width: '380px', borderRadius: '12px',
          height: `min(620px, calc(100vh - ${bottom} - 88px))` });
    if (launcher) css(launcher, { [edge]: x, bottom });
  }

  function setOpen(open) {
    if (!w || w.off) return;
    if (!w.ready) { w.pending = open; return; }
    if (open === w.open) return;
    w.open = open;
    w.frame.style.display = open ? 'block' : 'none';
    if (w.launcher) {
      w.launcher.setAttribute('aria-expanded', open);
      label();
    }
    post({ type: open ? 'open' : 'close' });
    (open ? w.frame : w.launcher || w.frame).focus();
    emit(open ? 'ON_PLUG_WIDGET_OPENED' : 'ON_PLUG_WIDGET_CLOSED');
  }

  // The launcher's name, and its badge while replies wait.
  function label() {
    const { launcher: b, badge, unread: n } = w;
    b.setAttribute('aria-label', (w.open ? 'Close' : 'Open') + ' support chat' + (n ? `, ${n} unread` : ''));
    badge.textContent = n > 9 ? '9+' : n;
    badge.style.display = n ? 'block' : 'none';
  }

  async function renew() {
    const provider = w && w.opts.session_token_provider;
    if (typeof provider !== 'function') return;
    try {
      const token = await provider();
      if (token && w) post({ type: 'token', token: String(token) });
    } catch (e) {
      emit('ON_PLUG_ERROR', { code: 'session_token_provider', error: String(e) });
    }
  }

  function onMessage(ev) {
    // Only our own frames, from openplug's origin, are listened to.
    const m = ev.data;
    if (ev.origin !== ORIGIN || !m || m.plug !== 1) return;
    if (closing.has(ev.source)) return m.type === 'shutdown_done' && closing.get(ev.source)();
    if (!w || ev.source !== w.frame.contentWindow) return;
    const o = w.opts;
    switch (m.type) {
      case 'hello':
        post({ type: 'init', session_token: o.session_token || null, theme: o.theme,
          identity: o.session_token ? null : o.identity, page_url: here(),
          accent_color: hex(o.accent_color), primary_text_color: hex(o.primary_text_color) });
        break;
      case 'ready':
        w.ready = true;
        for (const msg of w.queue.splice(0)) post(msg);
        emit('ON_PLUG_WIDGET_READY');
        // openplug's session analytics: trackEvent and addSessionProperties record from now.
        emit('ON_OBSERVABILITY_READY');
        if (w.pending !== undefined) setOpen(w.pending);
        break;
      case 'close': setOpen(false); break;
      case 'unread':
        w.unread = m.count;
        if (w.launcher) label();
        emit('ON_PLUG_WIDGET_UNREAD_COUNT_CHANGE', { count: m.count });
        emit('ON_PLUG_UNREAD_COUNT', { count: m.count }); // openplug's earlier name, kept
        break;
      case 'conversation_start': emit('ON_CONVERSATION_START', { conversation: m.conversation }); break;
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
    opts = opts || {};
    if (!opts.app_id) { fail('invalid_option', 'init needs an app_id', 'app_id'); return; }
    if (opts.enable_session_recording || opts.session_recording_key) unsupported('session_recording', 'init')();
    session.start(opts.session_recording_options);
    const sp = opts.spacing || {};
    w = { opts, ready: false, open: false, queue: [], off: opts.disable_plug_chat_window === true,
      edge: opts.widget_alignment === 'left' ? 'left' : 'right',
      bottom: len(sp.bottom, '10px', 'spacing.bottom'), side: len(sp.side, '0px', 'spacing.side') };
    const frame = w.frame = make('iframe', { id: 'plug-widget-frame', title: 'Support chat',
      src: `${ROOT}widget/frame?app_id=${encodeURIComponent(opts.app_id)}`, referrerpolicy: 'origin' },
    'position:fixed;z-index:2147483647;border:0;display:none;box-shadow:0 8px 32px rgba(0,0,0,.25);max-width:100vw;max-height:100vh');
    const selector = opts.custom_launcher_selector;
    if (opts.enable_default_launcher !== false && !selector && !w.off) {
      const b = w.launcher = make('button', { type: 'button', id: 'plug-widget-launcher',
        'aria-label': 'Open support chat', 'aria-expanded': 'false', 'aria-controls': frame.id },
      'position:fixed;z-index:2147483646;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;padding:0;line-height:0;box-shadow:0 4px 16px rgba(0,0,0,.3)');
      css(b, { background: hex(opts.accent_color) || '#2456d3', color: hex(opts.primary_text_color) || '#fff' });
      // A speech bubble as SVG (no emoji font needed).
      const NS = 'http://www.w3.org/2000/svg';
      const svg = make('svg', { width: 28, height: 28, viewBox: '0 0 24 24', 'aria-hidden': 'true' }, '', NS);
      svg.append(make('path', { fill: 'currentColor',
        d: 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z' }, '', NS));
      b.append(svg, w.badge = make('span', { id: 'plug-widget-badge', 'aria-hidden': 'true' },
        'position:absolute;top:-2px;right:-2px;min-width:20px;padding:3px 5px;border-radius:10px;background:#d93025;color:#fff;font:700 12px/14px system-ui,sans-serif;display:none'));
      b.addEventListener('click', () => toggleWidget());
      document.body.append(b);
    }
    if (selector) {
      w.custom = (e) => {
        try { if (e.target.closest(selector)) toggleWidget(); } catch { /* not an element, or a bad selector */ }
      };
      document.addEventListener('click', w.custom);
    }
    addEventListener('resize', place);
    place();
    document.body.append(frame);
  }

  // Detaches the widget at once, so init() may follow straight away (DevRev's
  // "Changing the user identity" does not await); the hidden old frame stays
  // until it has logged out on the server, which the promise waits for.
  function shutdown() {
    const cur = w;
    if (!cur) return Promise.resolve();
    w = null;
    if (cur.launcher) cur.launcher.remove();
    document.removeEventListener('click', cur.custom);
    removeEventListener('resize', place);
    cur.frame.style.display = 'none';
    cur.frame.removeAttribute('id');
    const win = cur.frame.contentWindow;
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); closing.delete(win); cur.frame.remove(); resolve(); };
      const timer = setTimeout(done, 5000); // a frame that cannot answer goes anyway
      if (!cur.ready) return done();
      closing.set(win, done);
      post({ type: 'shutdown' }, cur);
    });
  }

  // toggleWidget(open?, 'create_conversation', {startConversationContent}).
  function toggleWidget(open, view, options) {
    if (!w) return;
    const wanted = open === undefined ? !(w.ready ? w.open : w.pending) : Boolean(open);
    if (wanted && view) toFrame({ type: 'call', name: 'view', args: [view, options && options.startConversationContent] });
    setOpen(wanted);
  }


  // getSessionDetails: this tab's browsing session (sessionStorage) and page;
  // init's session_recording_options.sessionDetails continues them.
  const id = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => (b + 256).toString(16).slice(1)).join('');
  const session = {
    start(o) {
      const d = (o && o.sessionDetails) || {};
      if (typeof d.sessionId === 'string' && typeof d.tabId === 'string') Object.assign(this, d);
      try {
        this.sessionId ||= sessionStorage.getItem('openplug:session') || id();
        sessionStorage.setItem('openplug:session', this.sessionId);
      } catch { this.sessionId ||= id(); }
      this.tabId ||= id();
    },
  };

  addEventListener('message', onMessage);
  const sdk = {
    init,
    shutdown,
    toggleWidget,
    onEvent: (cb) => { if (typeof cb === 'function') listeners.add(cb); },
    getSessionDetails: () => {
      if (!session.tabId) session.start();
      return { sessionId: session.sessionId, tabId: session.tabId };
    },
    // openplug's own: a fresh session token for the running widget.
    updateSessionToken: (token) => {
      if (w && token) { w.opts.session_token = token; post({ type: 'token', token: String(token) }); }
    },
  };
  // Checked and carried out by the frame (errors come back as ON_PLUG_ERROR).
  for (const name of ['toggleTheme', 'updateIdentity', 'trackEvent', 'addSessionProperties']) {
    sdk[name] = (...args) => toFrame({ type: 'call', name, args, page_url: here() });
  }
  for (const m of ['restartSessionRecording', 'initSearchAgent', 'toggleSearchAgent', 'prefillSearchQuery']) {
    sdk[m] = unsupported(m[0] === 'r' ? 'session_recording' : 'search_agent', m);
  }
  // DevRev documents these as properties, read without calling them.
  for (const [k, get] of Object.entries({
    isPlugInitialized: () => Boolean(w && w.ready),
    isWidgetOpen: () => Boolean(w && w.open),
    isSearchAgentOpen: () => false,
  })) Object.defineProperty(sdk, k, { get, enumerable: true });
  window.plugSDK = sdk;
})();
