/* Files in conversations, for the chat frame and the agent inbox alike
 * (the frame loads it as a script, the inbox imports it for its side
 * effect): globalThis.openplugFiles.
 *
 * - tray(): the composer's attach button, file input, paste and drop, the
 *   files being uploaded (progress, refusals, retry) and the ids to send;
 *   dropOn(): files dropped onto the conversation.
 * - shown(): a message's files: images as thumbnails that open full size,
 *   anything else as name, size and a download link.
 *
 * Uploads go by XMLHttpRequest, the one browser API that reports upload
 * progress. Only PNG, JPEG, GIF and WebP with a thumbnail the server
 * re-encoded are ever put in an <img>; SVG, HTML and the rest are only
 * links to a download (served as attachments, sandboxed). Names are text
 * nodes only. */
(() => {
  'use strict';
  const INLINE = /^image\/(png|jpeg|gif|webp)$/;
  const RETRYABLE = (s) => s === 0 || s === 404 || s === 408 || s >= 500;

  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else if (v === true) e.setAttribute(k, '');
      else if (v !== false && v != null) e.setAttribute(k, v);
    }
    e.append(...kids.filter((c) => c != null));
    return e;
  };

  const size = (n) => {
    if (n < 1024) return `${n} B`;
    const [v, unit] = n < 1048576 ? [n / 1024, 'KB'] : [n / 1048576, 'MB'];
    return `${v < 10 ? Math.round(v * 10) / 10 : Math.round(v)} ${unit}`;
  };

  // The refusal in words, naming the limit as the server did.
  function refusal(name, e) {
    const b = e.body || {};
    const type = /content is (\S+), which is not allowed/.exec(b.message || '');
    const why = b.limit_bytes
      ? (e.status === 429 ? `you have sent the most files allowed in a day (${size(b.limit_bytes)})`
        : `it is larger than the limit of ${size(b.limit_bytes)}`)
      : type ? `this type of file (${type[1]}) is not allowed`
        : (b.reason || b.message || e.message || 'the server refused it');
    return `${name} was not attached: ${why}.`;
  }

  const clip = () => {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M16.5 6.5 8.6 14.4a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.6-5.6l-8 8a6 6 0 0 0 8.5 8.5l7-7');
    svg.append(p);
    return svg;
  };

  function upload(prepared, file, onProgress, item) {
    return new Promise((resolve, reject) => {
      const x = item.xhr = new XMLHttpRequest();
      const form = new FormData();
      for (const f of prepared.form_data || []) form.append(f.key, f.value);
      form.append('file', file, file.name);
      x.open('POST', prepared.url);
      x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(Math.floor((e.loaded * 100) / e.total)); };
      x.onload = () => {
        let body = {};
        try { body = JSON.parse(x.responseText); } catch { /* not JSON */ }
        if (x.status >= 200 && x.status < 300) resolve(body.artifact);
        else reject({ status: x.status, body, message: body.message });
      };
      x.onerror = () => reject({ status: 0, body: {}, message: 'the connection failed' });
      x.onabort = () => reject({ status: -1, body: {} });
      x.send(form);
    });
  }

  // A pasted screenshot is "image.png" in every browser: a name that says when.
  const named = (f) => (f.name && !(f.name === 'image.png' && f.type === 'image/png') ? f
    : new File([f], f.type === 'image/png'
      ? `screenshot-${new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-')}.png` : 'file', { type: f.type }));

  /** prepare({file_name, file_type, file_size}) -> artifacts.prepare's answer,
   * throwing {status, body} when refused; idPrefix names the elements. */
  function tray({ prepare, idPrefix }) {
    const items = [];
    let waiters = [];
    const input = el('input', { type: 'file', multiple: true, id: `${idPrefix}-file`, class: 'file-input',
      tabindex: '-1', 'aria-label': 'Attach files', onchange: () => { add(input.files); input.value = ''; } });
    const button = el('button', { type: 'button', class: 'attach', 'aria-label': 'Attach files',
      title: 'Attach files (or paste, or drop them here)', onclick: () => input.click() }, clip());
    const list = el('ul', { class: 'pending-files', 'aria-label': 'Files to send', 'aria-live': 'polite', hidden: true });
    const note = el('p', { class: 'file-note', role: 'alert', 'aria-live': 'assertive', id: `${idPrefix}-file-note` });
    const say = (text) => { note.textContent = text; };

    function render() {
      list.replaceChildren(...items.map((it) => it.row));
      list.hidden = items.length === 0;
    }

    function settle() {
      if (items.some((it) => it.state === 'uploading')) return;
      const ok = items.every((it) => it.state === 'done');
      for (const w of waiters.splice(0)) w(ok);
    }

    function remove(it) {
      const i = items.indexOf(it);
      if (i < 0) return;
      items.splice(i, 1);
      if (it.xhr) it.xhr.abort();
      render();
      settle();
    }

    function draw(it) {
      const name = it.file.name;
      const kids = [el('span', { class: 'file-name', text: name }), el('span', { class: 'file-size', text: size(it.file.size) })];
      if (it.state === 'uploading') {
        const bar = el('span', { class: 'bar' });
        bar.style.width = `${it.pct}%`;
        kids.push(el('span', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100',
          'aria-valuenow': String(it.pct), 'aria-label': `Uploading ${name}` }, bar));
      } else if (it.state === 'failed') {
        kids.push(el('span', { class: 'file-state', text: 'Not uploaded' }),
          el('button', { type: 'button', class: 'file-retry', 'aria-label': `Retry ${name}`, text: 'Retry',
            onclick: () => start(it) }));
      } else {
        kids.push(el('span', { class: 'file-state', text: 'Ready' }));
      }
      kids.push(el('button', { type: 'button', class: 'file-remove', 'aria-label': `Remove ${name}`, text: '\u00d7',
        onclick: () => remove(it) }));
      const row = el('li', { class: `pending-file ${it.state}` }, ...kids);
      const focused = it.row && it.row.contains(document.activeElement);
      if (it.row) it.row.replaceWith(row);
      it.row = row;
      // Retry pressed, or the upload ended under the keyboard: focus stays on the file.
      if (focused) row.lastChild.focus();
    }

    function progress(it, pct) {
      it.pct = pct;
      const p = it.row.querySelector('[role=progressbar]');
      if (!p) return;
      p.setAttribute('aria-valuenow', String(pct));
      p.firstChild.style.width = `${pct}%`;
    }

    async function start(it) {
      say('');
      it.state = 'uploading';
      it.pct = 0;
      draw(it);
      try {
        const prepared = await prepare({ file_name: it.file.name, file_type: it.file.type || undefined, file_size: it.file.size });
        if (!items.includes(it)) return;
        await upload(prepared, it.file, (pct) => progress(it, pct), it);
        it.id = prepared.id;
        it.state = 'done';
        draw(it);
      } catch (e) {
        if (!items.includes(it) || e.status === -1) return;
        if (RETRYABLE(e.status || 0)) {
          it.state = 'failed';
          draw(it);
          say(`${it.file.name} did not upload (${e.message || 'the connection failed'}). Retry it or remove it.`);
        } else {
          say(refusal(it.file.name, e));
          remove(it);
        }
      } finally {
        it.xhr = null;
        settle();
      }
    }

    function add(files) {
      say('');
      for (const f of [...(files || [])]) {
        const it = { file: named(f), state: 'uploading', pct: 0, row: null };
        items.push(it);
        draw(it);
        start(it);
      }
      render();
    }

    return {
      button, input, list, note, say, add,
      count: () => items.length,
      ids: () => items.filter((it) => it.state === 'done').map((it) => it.id),
      /** Resolves once nothing is uploading: true if every file is ready. */
      ready: () => new Promise((resolve) => { waiters.push(resolve); settle(); }),
      /** The files just sent leave the tray (one added meanwhile stays). */
      sent(ids) {
        for (const it of items.filter((x) => ids.includes(x.id))) items.splice(items.indexOf(it), 1);
        render();
      },
      /** Another conversation: everything goes, uploads under way stop. */
      clear() {
        for (const it of items.splice(0)) if (it.xhr) it.xhr.abort();
        render();
        say('');
      },
      /** A file pasted into `field` (a screenshot) is attached. */
      watch(field) {
        field.addEventListener('paste', (e) => {
          const d = e.clipboardData;
          if (!d || !d.files.length) return;
          if (!d.types.includes('text/plain')) e.preventDefault();
          add(d.files);
        });
      },
    };
  }

  /** Files dropped onto `zone` go to add(files). */
  function dropOn(zone, add) {
    const carries = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
    zone.addEventListener('dragover', (e) => {
      if (!carries(e)) return;
      e.preventDefault();
      zone.classList.add('dropping');
    });
    zone.addEventListener('dragleave', (e) => { if (!zone.contains(e.relatedTarget)) zone.classList.remove('dropping'); });
    zone.addEventListener('drop', (e) => {
      zone.classList.remove('dropping');
      if (!carries(e)) return;
      e.preventDefault();
      add(e.dataTransfer.files);
    });
  }

  // A fresh download URL when clicked (the ones in messages last minutes),
  // then the browser's own download (the server says attachment).
  function fetchFile(a, locate, say) {
    return async (e) => {
      e.preventDefault();
      try {
        const { url } = await locate(a.id);
        const link = el('a', { href: url, download: a.file.name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
      } catch (err) {
        say(`${a.file.name} could not be downloaded: ${err.message || 'try again'}.`);
      }
    };
  }

  function download(a, locate, say, text) {
    return el('a', { href: a.url || '#', download: a.file.name, class: 'file-link',
      'aria-label': `Download ${a.file.name} (${size(a.file.size)})`, onclick: fetchFile(a, locate, say) },
    ...(text ? [text] : [el('span', { class: 'file-name', text: a.file.name }),
      el('span', { class: 'file-size', text: size(a.file.size) })]));
  }

  // The URLs in a message last minutes: one older than that is asked for again.
  async function viewer(old, { locate, say, refresh }) {
    const stale = !(Date.parse(old.url_expires_at) > Date.now() + 5000);
    const a = (stale && refresh && (await refresh(old.id).catch(() => null))) || old;
    const close = el('button', { type: 'button', class: 'viewer-close', text: 'Close' });
    const img = el('img', { src: a.inline_url, alt: a.file.name });
    img.addEventListener('error', () => img.replaceWith(el('p', { text: 'This view has expired: open the conversation again to see it.' })));
    const d = el('dialog', { class: 'file-viewer', 'aria-label': a.file.name }, img,
      el('div', { class: 'viewer-bar' }, download(a, locate, say, 'Download original'), close));
    close.addEventListener('click', () => d.close());
    d.addEventListener('click', (e) => { if (e.target === d) d.close(); });
    // Escape closes the picture, not the whole chat around it.
    d.addEventListener('keydown', (e) => { if (e.key === 'Escape') e.stopPropagation(); });
    d.addEventListener('close', () => d.remove());
    document.body.append(d);
    d.showModal();
    close.focus();
  }

  /** A message's files. calls: locate(id) -> artifacts.locate's answer;
   * say(text) for a failure; refresh(id) -> the artifact with fresh URLs. */
  function shown(artifacts, calls) {
    const { locate, say } = calls;
    if (!artifacts || !artifacts.length) return null;
    return el('ul', { class: 'files' }, ...artifacts.map((a) => {
      const image = a.thumbnail_url && a.inline_url && INLINE.test(a.file.type);
      if (!image) return el('li', { class: 'file' }, download(a, locate, say));
      const w = a.width && a.height ? Math.min(a.width, 240) : null;
      const img = el('img', { src: a.thumbnail_url, alt: a.file.name, loading: 'lazy',
        width: w, height: w && Math.round((w * a.height) / a.width) });
      return el('li', { class: 'file image' }, el('button', { type: 'button', class: 'file-thumb',
        'aria-label': `Open ${a.file.name} full size`, onclick: () => viewer(a, calls) }, img));
    }));
  }

  globalThis.openplugFiles = { tray, shown, dropOn, size };
})();
