#!/usr/bin/env node
// Regenerates docs/images/inspector.png and docs/images/chat.png (run `npm run docs:screenshots`): a server on a fresh database, a little traffic, headless Chromium.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chromium } from 'playwright-core';
import { RealtimeClient } from '@nself/client';
import { addMember, createChannel, ensureEmbeddedPostgres, migrate, parseTableName, subscribe } from '@nself/db';
import { startServer } from '@nself/server';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const images = path.join(root, 'docs', 'images');
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fresh database on the server of DATABASE_URL, or of the embedded PostgreSQL the tests use; dropped by `drop()`. */
async function freshDatabase() {
  const serverUrl = process.env.DATABASE_URL?.trim() || (await ensureEmbeddedPostgres(path.join(root, '.nself', 'test'))).url;
  const name = `nself_screenshots_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  pool.on('error', () => undefined);
  await migrate(pool);
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      await admin.query(`DROP DATABASE ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Channels, members, a subscribed table, and clients that are present and talk for as long as the screenshots take. */
async function makeTraffic(db, realtimeUrl) {
  const people = ['alice', 'bob', 'carol'];
  const ops = await createChannel(db.pool, { name: 'ops-room', type: 'presence' });
  for (const user of people) await addMember(db.pool, { channelId: ops.id, userId: user });
  await createChannel(db.pool, { name: 'support', type: 'private' });
  await db.pool.query('CREATE TABLE public.orders (id serial PRIMARY KEY, item text NOT NULL, total numeric NOT NULL)');
  await subscribe(db.pool, { table: parseTableName('public.orders') });

  const clients = people.map(() => new RealtimeClient({ url: realtimeUrl }));
  const rooms = clients.map((client, index) => client.channel(index === 2 ? 'lobby' : 'ops-room', { config: { presence: { key: people[index] } } }));
  rooms.forEach((room, index) => room.track({ status: 'online', device: index === 0 ? 'laptop' : 'phone' }));
  clients[0].channel('realtime:table:public.orders').on('INSERT', () => undefined);
  for (let version = 1; version <= 4; version += 1) await rooms[0].send({ type: 'broadcast', event: 'deploy', payload: { service: 'api', version } });

  // The lobby chats; ops-room gets a status now and then, and dave comes and goes, so the tail shows both.
  const dave = new RealtimeClient({ url: realtimeUrl });
  let tick = 0;
  const timer = setInterval(() => {
    tick += 1;
    void rooms[2].send({ type: 'broadcast', event: 'chat', payload: { text: `message ${tick}` } }).catch(() => undefined);
    if (tick % 8 === 0) void rooms[tick % 16 === 0 ? 0 : 1].send({ type: 'broadcast', event: 'status', payload: { tick, healthy: true } }).catch(() => undefined);
    if (tick % 3 === 0) void db.pool.query('INSERT INTO public.orders (item, total) VALUES ($1, $2)', [`item ${tick}`, tick * 3]).catch(() => undefined);
    if (tick === 30) dave.channel('ops-room', { config: { presence: { key: 'dave' } } }).track({ status: 'online', device: 'tablet' });
    if (tick === 60) void dave.disconnect();
  }, 150);
  return {
    rooms,
    async stop() {
      clearInterval(timer);
      for (const client of [...clients, dave]) await client.disconnect();
    },
  };
}

/** Starts the chat example's page server against `realtimeUrl`; resolves with its address and a stop function. */
async function startChat(realtimeUrl) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/chat/server.ts'], {
    cwd: root,
    env: { ...process.env, REALTIME_URL: realtimeUrl, CHAT_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const address = await new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk.toString();
      const found = output.match(/open (http:\/\/localhost:\d+)\//);
      if (found) resolve(found[1]);
    });
    child.once('exit', (code) => reject(new Error(`the chat example exited with ${code}: ${output}`)));
  });
  return { address, stop: () => child.kill('SIGTERM') };
}

const db = await freshDatabase();
const server = await startServer({ port: 0, host: '127.0.0.1', databaseUrl: db.url, logToStdout: false, env: {} });
const realtimeUrl = `ws://127.0.0.1:${server.port}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS });
await mkdir(images, { recursive: true });
const traffic = await makeTraffic(db, realtimeUrl);
let chat;
try {
  const inspector = await browser.newPage({ viewport: { width: 1280, height: 780 } });
  await inspector.goto(`${server.url}/inspector`);
  await inspector.locator('#channels tr[data-channel="ops-room"]').click();
  // Two minutes of samples would be ideal; twelve seconds give the sparklines and histograms a shape.
  await sleep(15_000);
  await inspector.screenshot({ path: path.join(images, 'inspector.png') });

  chat = await startChat(realtimeUrl);
  const alice = await browser.newPage({ viewport: { width: 900, height: 620 } });
  const bob = await browser.newPage({ viewport: { width: 900, height: 620 } });
  await alice.goto(`${chat.address}/?name=alice&room=general`);
  await bob.goto(`${chat.address}/?name=bob&room=general`);
  for (const [page, text] of [
    [alice, 'Morning! Is the deploy done?'],
    [bob, 'Yes, v4 is live since 9:40'],
    [alice, 'Great, thanks'],
  ]) {
    await page.locator('#text').fill(text);
    await page.locator('#text').press('Enter');
    await sleep(300);
  }
  await alice.reload();
  await alice.locator('#messages li').nth(2).waitFor();
  await bob.locator('#text').fill('(Alice reloaded: the history above is greyed, this one is live)');
  await bob.locator('#text').press('Enter');
  await alice.locator('#messages li').nth(3).waitFor();
  await alice.locator('#online li').nth(1).waitFor();
  await alice.screenshot({ path: path.join(images, 'chat.png') });
} finally {
  chat?.stop();
  await traffic.stop();
  await browser.close();
  await server.close();
  await db.drop();
}
process.stdout.write(`wrote ${path.relative(root, path.join(images, 'inspector.png'))} and ${path.relative(root, path.join(images, 'chat.png'))}\n`);
