// Tokens signed with asymmetric keys, as Supabase's signing keys, Nhost and OIDC providers issue them: ES256 through a served JWKS, RS256 through a PEM key beside a shared secret.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from 'jose';
import { loadConfig } from '@nself/server';
import type { RunningServer } from '@nself/server';
import type { TestDatabase } from '../helpers/database.js';
import { subscribe, supabase } from './support.js';
import { createTestDatabase } from '../helpers/database.js';
import { startTestServer } from '../helpers/server.js';
import { JWT_SECRET, token } from '../helpers/tokens.js';

let db: TestDatabase;
let jwksServer: Server;
let jwksUrl: string;
/** What the JWKS endpoint serves; a test adds a key to it to rotate. */
const served: { keys: JWK[] } = { keys: [] };
let jwksFetches = 0;

before(async () => {
  db = await createTestDatabase({ migrated: true });
  jwksServer = createServer((request, response) => {
    jwksFetches++;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(served));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const address = jwksServer.address();
  jwksUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/auth/v1/.well-known/jwks.json`;
});
after(async () => {
  await new Promise((resolve) => jwksServer.close(resolve));
  await db.drop();
});

/** A key pair with its public JWK (kid, alg) and a signer of tokens for a user. */
async function signingKey(alg: 'ES256' | 'RS256', kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return {
    jwk,
    pem: await exportSPKI(publicKey),
    sign: (sub: string, role = 'authenticated') =>
      new SignJWT({ role }).setProtectedHeader({ alg, kid, typ: 'JWT' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(privateKey),
  };
}

/** Joins a channel as `accessToken` and sends a broadcast to itself; the status and what came back. */
async function roundTrip(server: RunningServer, accessToken: string, topic: string): Promise<{ status: string; error?: string; echoed?: boolean }> {
  const client = supabase(server, { key: accessToken, accessToken });
  try {
    const channel = client.channel(topic, { config: { broadcast: { self: true, ack: true } } });
    let echoed = false;
    channel.on('broadcast', { event: 'ping' }, () => {
      echoed = true;
    });
    const joined = await subscribe(channel);
    if (joined.status !== 'SUBSCRIBED') return { status: joined.status, ...(joined.error ? { error: joined.error.message } : {}) };
    assert.equal(await channel.send({ type: 'broadcast', event: 'ping', payload: {} }), 'ok');
    for (let waited = 0; !echoed && waited < 3000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    return { status: joined.status, echoed };
  } finally {
    await client.removeAllChannels();
  }
}

test('ES256 tokens are verified through a JWKS URL; a rotated-in key is fetched when a token names it; a foreign key is refused', async () => {
  const current = await signingKey('ES256', 'key-1');
  served.keys = [current.jwk];
  const server = await startTestServer(db, { jwtSecret: undefined, jwksUrl });
  try {
    assert.deepEqual(await roundTrip(server, await current.sign('ada'), 'es256'), { status: 'SUBSCRIBED', echoed: true });

    const rotated = await signingKey('ES256', 'key-2');
    const before = jwksFetches;
    await new Promise((resolve) => setTimeout(resolve, 5_100)); // the refetch cooldown after the first fetch
    served.keys = [current.jwk, rotated.jwk];
    assert.deepEqual(await roundTrip(server, await rotated.sign('bea'), 'es256-rotated'), { status: 'SUBSCRIBED', echoed: true });
    assert.ok(jwksFetches > before, 'the JWKS was fetched again for the unknown kid');

    const foreign = await signingKey('ES256', 'key-1');
    const refused = await roundTrip(server, await foreign.sign('eve'), 'es256-foreign');
    assert.notEqual(refused.status, 'SUBSCRIBED', 'a token signed by another key with a known kid is refused');
    assert.equal((await roundTrip(server, await token('hs-user'), 'es256-hs')).status === 'SUBSCRIBED', false, 'an HS256 token is refused when no secret is set');
  } finally {
    await server.close();
  }
});

test('RS256 tokens are verified with a PEM public key beside a shared secret, so both kinds of token work during a move', async () => {
  const rsa = await signingKey('RS256', 'rsa-1');
  const server = await startTestServer(db, { jwtSecret: JWT_SECRET, jwtPublicKey: rsa.pem });
  try {
    assert.deepEqual(await roundTrip(server, await rsa.sign('cleo'), 'rs256'), { status: 'SUBSCRIBED', echoed: true });
    assert.deepEqual(await roundTrip(server, await token('dan'), 'hs256'), { status: 'SUBSCRIBED', echoed: true });
    const other = await signingKey('RS256', 'rsa-1');
    assert.notEqual((await roundTrip(server, await other.sign('eve'), 'rs256-foreign')).status, 'SUBSCRIBED');
  } finally {
    await server.close();
  }
});

test("configuration: Hasura's asymmetric and jwk_url forms, and public keys that read as nothing are refused with what is accepted", async () => {
  const rsa = await signingKey('RS256', 'rsa-2');
  const hasuraPem = loadConfig({ HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ type: 'RS256', key: rsa.pem }) });
  assert.equal(hasuraPem.jwtPublicKey, rsa.pem);
  assert.equal(hasuraPem.jwtSecret, undefined);
  assert.equal(hasuraPem.host, '0.0.0.0', 'a public key ends development mode');
  assert.equal(loadConfig({ HASURA_GRAPHQL_JWT_SECRET: JSON.stringify({ jwk_url: 'https://auth.example.com/jwks.json' }) }).jwksUrl, 'https://auth.example.com/jwks.json');
  assert.throws(() => loadConfig({ HASURA_GRAPHQL_JWT_SECRET: '{"type":"XS999","key":"k"}' }), /has type "XS999"; expected one of HS256/);
  assert.throws(() => loadConfig({ NODE_ENV: 'production', REALTIME_LOG_FILE: '/tmp/x.log' }), /REALTIME_JWT_PUBLIC_KEY or REALTIME_JWKS_URL/);
  await assert.rejects(startTestServer(db, { jwtSecret: undefined, jwtPublicKey: 'not a key' }), /neither PEM .* nor JSON \(a JWK, or a JWKS/);
  await assert.rejects(startTestServer(db, { jwtSecret: undefined, jwksUrl: '/nonexistent/jwks.json' }), /cannot read a JWKS from \/nonexistent\/jwks.json/);
});
