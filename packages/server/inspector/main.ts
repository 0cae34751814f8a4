// The inspector's page: asks for a token when the server wants one, polls the server's state every second and draws it, and tails the channel picked.
import type { InspectorState } from '@nself/server';
import { currentToken, readState, rememberToken } from './access.js';
import { formatNumber, formatSeconds, histogram, quantile, sparkline } from './charts.js';
import { LiveTail } from './tail.js';

const POLL_MS = 1000;
/** Samples kept for the sparklines: two minutes at one a second. */
const SAMPLES = 120;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface Sample {
  readonly at: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly connections: number;
  readonly latency: InspectorState['server']['latency'];
}

type Latency = InspectorState['server']['latency']['broadcast'];

const samples: Sample[] = [];
let token = currentToken();
let tail: LiveTail | undefined;

$<HTMLFormElement>('login').addEventListener('submit', (event) => {
  event.preventDefault();
  token = $<HTMLInputElement>('token').value.trim();
  rememberToken(token);
  void poll();
});

$('channels').addEventListener('click', (event) => {
  const row = (event.target as HTMLElement).closest<HTMLTableRowElement>('tr[data-channel]');
  const channel = row?.dataset['channel'];
  if (!channel) return;
  tail ??= new LiveTail(token, { history: $('tail-history'), divider: $('tail-divider'), live: $('tail'), heading: $('tail-channel'), present: $('tail-present') });
  tail.open(channel);
  for (const other of Array.from(row.parentElement?.children ?? [])) other.classList.toggle('selected', other === row);
});

let timer: ReturnType<typeof setTimeout> | undefined;

/** Reads the state once and draws it; polls again a second later unless the server refused the token. */
async function poll(): Promise<void> {
  clearTimeout(timer);
  const reading = await readState(token);
  if (!reading.ok) {
    setStatus(reading.refused ? 'refused' : 'unreachable', 'bad');
    if (reading.refused) {
      $('login').hidden = false;
      $('panels').hidden = true;
      $('refusal').textContent = reading.error;
      return;
    }
  } else {
    $('login').hidden = true;
    $('panels').hidden = false;
    setStatus('live', 'good');
    draw(reading.state);
  }
  timer = setTimeout(() => void poll(), POLL_MS);
}

function setStatus(text: string, tone: string): void {
  $('status').textContent = text;
  $('status').className = `badge ${tone}`;
}

function draw(state: InspectorState): void {
  const { server } = state;
  $('server').textContent = `${server.id}${server.developmentMode ? ' · development mode' : ''} · up ${server.uptimeSeconds}s · ${formatNumber(server.rssBytes / 2 ** 20)} MiB`;
  drawFigures(state);
  fillTable(
    'channels',
    state.channels.map((channel) => ({
      key: channel.slug,
      cells: [channel.slug, channel.type, channel.members, channel.online, rate(channel.messagesPerSecond), channel.lastOffset],
    })),
    tail?.current,
  );
  $('capture').textContent =
    `${state.capture.path === 'wal' ? `write-ahead log, slot ${state.capture.slot} ${state.capture.slotActive ? 'read' : 'not read'}` : 'triggers'}` +
    `${state.capture.lagBytes === null ? '' : ` · lag ${formatNumber(state.capture.lagBytes)} B`}` +
    `${state.capture.secondsSinceRead === null ? '' : ` · read ${Math.round(state.capture.secondsSinceRead)}s ago`} · ${state.capture.pending} pending`;
  fillTable(
    'tables',
    state.tables.map((table) => ({
      cells: [table.table, table.capture ?? '', table.events.join(' '), table.state, rate(table.changesPerSecond), table.changesSeen ?? '', time(table.lastChangeAt)],
    })),
  );
  fillTable(
    'connections',
    state.connections.map((connection) => ({
      cells: [
        connection.userId ?? 'anonymous',
        connection.remoteAddress ?? '',
        connection.channels?.join(', ') ?? '(another server)',
        time(connection.connectedAt),
        connection.serverId ?? '',
      ],
    })),
  );
}

function drawFigures(state: InspectorState): void {
  const { server } = state;
  samples.push({ at: Date.parse(state.time), messagesIn: server.messagesIn, messagesOut: server.messagesOut, connections: server.connections, latency: server.latency });
  if (samples.length > SAMPLES + 1) samples.shift();
  const rates = (field: 'messagesIn' | 'messagesOut'): number[] =>
    samples.slice(1).map((sample, index) => {
      const before = samples[index] as Sample;
      return Math.max(0, sample[field] - before[field]) / Math.max(0.001, (sample.at - before.at) / 1000);
    });
  const ratesIn = rates('messagesIn');
  const ratesOut = rates('messagesOut');
  sparkline($('chart-in'), ratesIn);
  sparkline($('chart-out'), ratesOut);
  sparkline(
    $('chart-connections'),
    samples.map((sample) => sample.connections),
  );
  $('rate-in').textContent = `${formatNumber(ratesIn.at(-1) ?? 0)}/s`;
  $('rate-out').textContent = `${formatNumber(ratesOut.at(-1) ?? 0)}/s`;
  $('connection-count').textContent = String(server.connections);
  const oldest = samples.length > 1 ? samples[0] : undefined;
  for (const name of ['broadcast', 'tableChange', 'join'] as const) {
    // Over the samples kept (the last two minutes); since the server started until there are two.
    const figure = oldest ? since(server.latency[name], oldest.latency[name]) : server.latency[name];
    histogram($(`histogram-${name}`), figure.bounds, figure.counts, figure.over);
    const p50 = quantile(figure.bounds, figure.counts, 0.5);
    const p99 = quantile(figure.bounds, figure.counts, 0.99);
    const bound = (value: number | undefined): string => (value === undefined ? '—' : `≤${formatSeconds(value)}`);
    $(`p-${name}`).textContent = figure.count === 0 ? 'none lately' : `p50 ${bound(p50)} · p99 ${bound(p99)}`;
    $(`histogram-${name}`).title = `${figure.count} ${oldest ? `in the last ${Math.round((Date.parse(state.time) - oldest.at) / 1000)} s` : 'since the server started'}`;
  }
}

/** The observations of `now` that came after `before`. */
function since(now: Latency, before: Latency): Latency {
  return {
    bounds: now.bounds,
    counts: now.counts.map((count, index) => count - (before.counts[index] ?? 0)),
    over: now.over - before.over,
    count: now.count - before.count,
    sumSeconds: now.sumSeconds - before.sumSeconds,
  };
}

/** Replaces a table's rows; the row whose key is `selected` stays marked. */
function fillTable(id: string, rows: readonly { key?: string; cells: readonly (string | number)[] }[], selected?: string): void {
  const body = $(id).querySelector('tbody') as HTMLTableSectionElement;
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      if (row.key !== undefined) {
        tr.dataset['channel'] = row.key;
        if (row.key === selected) tr.className = 'selected';
      }
      for (const value of row.cells) {
        const td = document.createElement('td');
        td.textContent = String(value);
        tr.append(td);
      }
      return tr;
    }),
  );
  if (rows.length === 0) {
    const td = document.createElement('td');
    td.colSpan = $(id).querySelectorAll('th').length;
    td.className = 'empty';
    td.textContent = 'none';
    body.append(document.createElement('tr'));
    body.lastElementChild?.append(td);
  }
}

function rate(perSecond: number): string {
  return perSecond === 0 ? '0' : perSecond < 0.1 ? '<0.1' : formatNumber(perSecond);
}

function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString() : '';
}

void poll();
