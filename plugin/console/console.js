// The pam-aws web console: plain DOM over the REST API (/v1/) of the same
// origin. Text from the API is only ever set as text (textContent, input
// values), never parsed as HTML.
'use strict';

const me = {
  user: document.body.dataset.user || '',
  admin: document.body.dataset.admin === 'true',
};
const main = document.getElementById('main');
const notice = document.getElementById('notice');

// ---- small helpers --------------------------------------------------------

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function say(text, kind) {
  notice.textContent = text;
  notice.className = kind || 'info';
  notice.hidden = !text;
}

class ApiError extends Error {
  constructor(status, error) {
    const parts = [error.message || `HTTP ${status}`];
    if (error.hint) parts.push(error.hint);
    super(parts.join('\n'));
    this.status = status;
    this.error = error;
  }
}

/** Calls the REST API; resolves to {data, next} (next: the Link rel=next URL). */
async function api(method, path, body) {
  const init = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || {});
  const link = response.headers.get('link') || '';
  const next = /<([^>]+)>;\s*rel="next"/.exec(link);
  return { data, next: next ? next[1] : null };
}

const enc = encodeURIComponent;

function when(text) {
  if (!text) return '';
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}

function timeLeft(text) {
  const ms = new Date(text).getTime() - Date.now();
  if (!(ms > 0)) return 'expired';
  const minutes = Math.round(ms / 60000);
  return minutes >= 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min left` : `${minutes} min left`;
}

function table(headings, rows, empty) {
  if (rows.length === 0) return el('p', { class: 'empty', text: empty });
  return el('div', { class: 'table' },
    el('table', {},
      el('thead', {}, el('tr', {}, headings.map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, rows)));
}

/** A form of labelled inputs; `submit` gets the values and may throw ApiError. */
function form(id, fields, submitText, submit) {
  const inputs = {};
  const node = el('form', { class: 'panel', id, hidden: true, novalidate: true });
  for (const field of fields) {
    const inputId = `${id}-${field.name}`;
    inputs[field.name] = el('input', {
      id: inputId, name: field.name, type: 'text', autocomplete: 'off',
      placeholder: field.placeholder, required: field.required,
    });
    node.append(el('label', { for: inputId, text: field.label }), inputs[field.name]);
    if (field.help) node.append(el('span', { class: 'help', text: field.help }));
  }
  const button = el('button', { type: 'submit', text: submitText });
  const cancel = el('button', { type: 'button', class: 'secondary', text: 'Cancel', onclick: () => { node.hidden = true; } });
  node.append(el('div', { class: 'actions' }, button, cancel));
  node.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = {};
    for (const [name, input] of Object.entries(inputs)) values[name] = input.value.trim();
    button.disabled = true;
    try {
      await submit(values);
    } catch (error) {
      say(error.message, 'error');
    } finally {
      button.disabled = false;
    }
  });
  return { node, inputs };
}

function toggleButton(text, target) {
  return el('button', {
    type: 'button', text,
    onclick: () => {
      target.node.hidden = !target.node.hidden;
      if (!target.node.hidden) Object.values(target.inputs)[0].focus();
    },
  });
}

/** Fields that were left empty are not sent. */
function present(values) {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
}

// ---- Resources ------------------------------------------------------------

async function showResources() {
  const heading = el('h1', { text: 'Resources' });
  const section = el('section', {}, heading);
  let add;
  if (me.admin) {
    add = form('add-resource', [
      { name: 'name', label: 'Name', required: true, placeholder: 'prod' },
      { name: 'role_arn', label: 'Role ARN', required: true, placeholder: 'arn:aws:iam::123456789012:role/PamResourceRole' },
      { name: 'external_id', label: 'External ID', help: 'Empty: the configured external id.' },
    ], 'Create resource', async (values) => {
      const { data } = await api('POST', '/v1/resources', present(values));
      say(`Created resource ${data.name}.`);
      await showResources();
    });
    section.append(el('div', { class: 'toolbar' }, toggleButton('Add resource', add)), add.node);
  }
  const { data } = await api('GET', '/v1/resources?limit=1000');
  section.append(table(['Name', 'Role ARN', 'AWS account', 'Created'], data.map((resource) => el('tr', {},
    el('td', {}, el('a', { href: `#/resources/${enc(resource.name)}`, text: resource.name })),
    el('td', { class: 'mono', text: resource.role_arn }),
    el('td', { class: 'mono', text: resource.aws_account_id }),
    el('td', { text: when(resource.created_at) }))),
  me.admin ? 'No resources yet: add one.' : 'No account is open to you yet.'));
  main.replaceChildren(section);
}

async function showResource(name) {
  const section = el('section', {},
    el('p', {}, el('a', { href: '#/resources', text: '← Resources' })),
    el('h1', { text: `Resource ${name}` }));
  if (me.admin) {
    const add = form('add-account', [
      { name: 'name', label: 'Name', required: true, placeholder: 'admin' },
      { name: 'description', label: 'Description' },
      { name: 'role_arn', label: 'Role ARN', required: true, placeholder: 'arn:aws:iam::123456789012:role/PamTarget' },
      { name: 'duration', label: 'Session duration', required: true, placeholder: '1h', help: '15m to 1h (role chaining caps it at 1 hour).' },
      { name: 'region', label: 'Region', placeholder: 'us-east-1' },
      { name: 'allow', label: 'Allow', placeholder: 'alice@example.com, @example.com, group:ops', help: 'Comma-separated: emails, @domains, group:NAME.' },
    ], 'Create account', async (values) => {
      const body = present(values);
      body.allow = values.allow.split(',').map((entry) => entry.trim()).filter(Boolean);
      const { data } = await api('POST', `/v1/resources/${enc(name)}/accounts`, body);
      say(`Created account ${data.name}.`);
      await showResource(name);
    });
    section.append(el('div', { class: 'toolbar' }, toggleButton('Add account', add)), add.node);
  }
  const { data } = await api('GET', `/v1/resources/${enc(name)}/accounts?limit=1000`);
  section.append(table(['Name', 'Description', 'Role ARN', 'Session', 'Region', ''], data.map((account) => el('tr', {},
    el('td', { text: account.name }),
    el('td', { class: 'detail', text: account.description || '' }),
    el('td', { class: 'mono', text: account.role_arn }),
    el('td', { text: account.session_duration }),
    el('td', { text: account.region || '' }),
    el('td', {}, el('button', {
      type: 'button', text: 'Access', 'aria-label': `Access ${account.name}`,
      onclick: (event) => access(event.currentTarget, name, account.name),
    })))), 'No accounts yet.'));
  main.replaceChildren(section);
}

/** Requests access and opens the console in a new tab; the tab is opened
 *  before the request so that the click still counts as the user's. */
async function access(button, resource, account) {
  const tab = window.open('', '_blank');
  button.disabled = true;
  say('Requesting access…');
  try {
    const { data } = await api('POST', `/v1/resources/${enc(resource)}/accounts/${enc(account)}/access`);
    if (tab) {
      tab.opener = null;
      tab.location.replace(data.url);
      say(`The AWS console for ${resource}/${account} opened in a new tab; the session expires ${when(data.session.expires_at)}.`);
    } else {
      offerUrl(data.url, resource, account);
    }
  } catch (error) {
    if (tab) tab.close();
    say(error.message, 'error');
  } finally {
    button.disabled = false;
  }
}

/** The pop-up was blocked: show the sign-in URL to open or copy. */
function offerUrl(url, resource, account) {
  const field = el('input', { type: 'text', readonly: true, 'aria-label': 'Sign-in URL' });
  field.value = url;
  const copy = el('button', {
    type: 'button', text: 'Copy',
    onclick: async () => {
      try { await navigator.clipboard.writeText(url); copy.textContent = 'Copied'; } catch (_) { field.select(); }
    },
  });
  const open = el('a', { href: url, target: '_blank', rel: 'noopener noreferrer', text: 'Open the AWS console' });
  say(`The browser blocked the new tab for ${resource}/${account}. Open or copy the sign-in URL (valid for 15 minutes):`);
  notice.append(el('div', { class: 'granted' }, field, copy, open));
}

// ---- Sessions -------------------------------------------------------------

async function showSessions(pageUrl, section) {
  if (!section) {
    section = el('section', {}, el('h1', { text: 'Sessions' }),
      el('p', { class: 'empty', text: me.admin ? 'Every user\'s sessions, newest first.' : 'Your sessions, newest first.' }));
    main.replaceChildren(section);
  }
  const { data, next } = await api('GET', pageUrl || '/v1/sessions?limit=50');
  const rows = data.map((session) => {
    const status = el('td', { class: `status-${session.status}`, text: session.status });
    const action = el('td', {});
    if (session.status === 'active') {
      action.append(el('button', {
        type: 'button', class: 'danger', text: 'Revoke',
        onclick: async (event) => {
          const button = event.currentTarget;
          if (!window.confirm(`Revoke the session of ${session.user} on ${session.resource}/${session.account}?`)) return;
          button.disabled = true;
          try {
            const { data: revoked } = await api('POST', `/v1/sessions/${enc(session.id)}/revoke`);
            status.textContent = revoked.status;
            status.className = `status-${revoked.status}`;
            button.remove();
            say(`Revoked the session of ${session.user}.`);
          } catch (error) {
            button.disabled = false;
            say(error.message, 'error');
          }
        },
      }));
    }
    return el('tr', { 'data-session': session.id },
      el('td', { text: session.user }),
      el('td', { text: `${session.resource}/${session.account}` }),
      el('td', { text: when(session.created_at) }),
      el('td', { text: session.status === 'active' ? `${when(session.expires_at)} (${timeLeft(session.expires_at)})` : when(session.expires_at) }),
      status, action);
  });
  const existing = section.querySelector('tbody');
  if (existing) existing.append(...rows);
  else section.append(table(['User', 'Resource / account', 'Created', 'Expires', 'Status', ''], rows, 'No sessions yet.'));
  moreButton(section, next, (url) => showSessions(url, section));
}

function moreButton(section, next, load) {
  const old = section.querySelector('.more');
  if (old) old.remove();
  if (!next) return;
  section.append(el('div', { class: 'toolbar more' }, el('button', {
    type: 'button', class: 'secondary', text: 'Load more',
    onclick: () => load(next).catch((error) => say(error.message, 'error')),
  })));
}

// ---- Audit ----------------------------------------------------------------

async function showAudit(pageUrl, section) {
  if (!me.admin) {
    main.replaceChildren(el('section', {}, el('h1', { text: 'Audit' }),
      el('p', { text: 'The audit trail is for members of admin-groups.' })));
    return;
  }
  if (!section) {
    section = el('section', {}, el('h1', { text: 'Audit' }));
    const chart = el('div', { class: 'chart', id: 'audit-chart' }, el('p', { class: 'empty', text: 'Counting the last 30 days…' }));
    section.append(chart);
    main.replaceChildren(section);
    drawChart(chart).catch((error) => { chart.textContent = `The chart could not be drawn: ${error.message}`; });
  }
  const { data, next } = await api('GET', pageUrl || '/v1/audit?limit=50');
  const rows = data.map((event) => el('tr', {},
    el('td', { text: when(event.time) }),
    el('td', { text: event.action }),
    el('td', { text: event.actor }),
    el('td', { text: [event.resource, event.account].filter(Boolean).join('/') }),
    el('td', { class: `outcome-${event.outcome}`, text: event.outcome }),
    el('td', { class: 'detail', text: event.detail || '' })));
  const existing = section.querySelector('tbody');
  if (existing) existing.append(...rows);
  else section.append(table(['Time', 'Action', 'Actor', 'Resource / account', 'Outcome', 'Detail'], rows, 'No events yet.'));
  moreButton(section, next, (url) => showAudit(url, section));
}

const DAY = 86400000;

/** Grants and denials per day over the last 30 days, as an inline SVG. */
async function drawChart(container) {
  const days = 30;
  const today = Math.floor(Date.now() / DAY);
  const grants = new Array(days).fill(0);
  const denials = new Array(days).fill(0);
  let url = '/v1/audit?limit=1000';
  for (let page = 0; url && page < 20; page += 1) {
    const { data, next } = await api('GET', url);
    let older = false;
    for (const event of data) {
      const index = days - 1 - (today - Math.floor(new Date(event.time).getTime() / DAY));
      if (index < 0) { older = true; continue; }
      if (index >= days) continue;
      if (event.action === 'access.grant') grants[index] += 1;
      else if (event.action === 'access.deny') denials[index] += 1;
    }
    url = older ? null : next;
  }
  const ns = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs) => {
    const node = document.createElementNS(ns, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return node;
  };
  const width = 620; const height = 140; const top = 10; const bottom = 20; const slot = width / days;
  const peak = Math.max(1, ...grants, ...denials);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'chart-title' });
  const title = svg('title', { id: 'chart-title' });
  const totalGrants = grants.reduce((a, b) => a + b, 0);
  const totalDenials = denials.reduce((a, b) => a + b, 0);
  title.textContent = `Grants and denials per day, last 30 days: ${totalGrants} grants, ${totalDenials} denials`;
  chart.append(title);
  const bar = (index, offset, count, kind) => {
    const barHeight = ((height - top - bottom) * count) / peak;
    const rect = svg('rect', {
      x: (index * slot + offset + 1).toFixed(1), y: (height - bottom - barHeight).toFixed(1),
      width: (slot / 2 - 1.5).toFixed(1), height: barHeight.toFixed(1), class: kind,
    });
    const tip = svg('title', {});
    tip.textContent = `${new Date((today - days + 1 + index) * DAY).toISOString().slice(0, 10)}: ${count} ${kind === 'grant' ? 'grants' : 'denials'}`;
    rect.append(tip);
    chart.append(rect);
  };
  for (let i = 0; i < days; i += 1) {
    bar(i, 0, grants[i], 'grant');
    bar(i, slot / 2, denials[i], 'deny');
  }
  chart.append(svg('line', { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, stroke: '#8a96a3' }));
  for (const [index, anchor] of [[0, 'start'], [days - 1, 'end']]) {
    const label = svg('text', { x: anchor === 'start' ? 0 : width, y: height - 5, 'text-anchor': anchor, 'font-size': 11, fill: '#5b6875' });
    label.textContent = new Date((today - days + 1 + index) * DAY).toISOString().slice(0, 10);
    chart.append(label);
  }
  container.replaceChildren(
    el('h2', { text: 'Grants and denials per day, last 30 days' }),
    chart,
    el('div', { class: 'legend' },
      el('span', {}, el('span', { class: 'swatch grant' }), `${totalGrants} grants`),
      el('span', {}, el('span', { class: 'swatch deny' }), `${totalDenials} denials`)));
}

// ---- routing --------------------------------------------------------------

async function route() {
  const parts = (location.hash.replace(/^#\/?/, '') || 'resources').split('/').map(decodeURIComponent);
  const section = parts[0];
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    if (section === 'sessions') await showSessions();
    else if (section === 'audit') await showAudit();
    else if (section === 'resources' && parts[1]) await showResource(parts[1]);
    else await showResources();
  } catch (error) {
    say(error.message, 'error');
  }
}

document.getElementById('who').textContent = `Signed in as ${me.user}${me.admin ? ' (administrator)' : ''}`;
for (const node of document.querySelectorAll('.admin-only')) node.hidden = !me.admin;
window.addEventListener('hashchange', () => { say(''); route(); });
route();
