/* The demo site's own front end (not part of the widget): a fake login that
 * asks the demo backend for a session token. A real site would render the
 * token into the page from its backend; this one keeps it for the tab. */
'use strict';
var sessionToken = sessionStorage.getItem('openplug-demo-token') || undefined;
(() => {
  const form = document.getElementById('login');
  const logout = document.getElementById('logout');
  const who = document.getElementById('who');
  const name = sessionStorage.getItem('openplug-demo-name');
  if (sessionToken) {
    form.hidden = true;
    logout.hidden = false;
    who.textContent = `Logged in as ${name}.`;
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const r = await fetch('/demo/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(data),
    });
    const body = await r.json();
    if (!r.ok) { who.textContent = body.message || 'Login failed'; return; }
    sessionStorage.setItem('openplug-demo-token', body.session_token);
    sessionStorage.setItem('openplug-demo-name', body.display_name);
    location.reload();
  });
  // A pretend cart: the page should feel like a shop, nothing is sold.
  let inCart = 0;
  for (const add of document.querySelectorAll('.add')) {
    add.addEventListener('click', () => { document.getElementById('cart-count').textContent = String(++inCart); });
  }
  logout.addEventListener('click', async () => {
    await window.plugSDK.shutdown(); // ends the widget's session on the server too
    sessionStorage.removeItem('openplug-demo-token');
    sessionStorage.removeItem('openplug-demo-name');
    location.reload();
  });
})();
