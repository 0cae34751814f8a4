// `nself realtime token <user>`: mints a client token signed with the server's shared secret, for development and tests.
import type { Command } from 'commander';
import { readJwtKeys, readSetting, UserError } from '@nself/db/values';
import { parseNumberArgument, withExamples } from '../args.js';
import { say } from '../output.js';

const DEFAULT_TTL_SECONDS = 3600;

/** Registers `token`. */
export function registerTokenCommand(realtime: Command): void {
  withExamples(
    realtime
      .command('token')
      .description("Print a JWT for a user, signed with REALTIME_JWT_SECRET (or HASURA_GRAPHQL_JWT_SECRET's key) as the server verifies it")
      .argument('<user>', "the user id, the token's sub")
      .option('--role <role>', "the token's role claim (service_role passes every channel's check)", 'authenticated')
      .option('--ttl <seconds>', 'seconds until it expires', String(DEFAULT_TTL_SECONDS))
      .option('--force', 'mint one even with NODE_ENV=production'),
    ['nself realtime token user-123', 'nself realtime token admin-1 --role service_role --ttl 600', 'TOKEN=$(nself realtime token user-123)'],
  ).action(async (user: string, options: { role: string; ttl: string; force?: boolean }) => {
    if (readSetting(process.env, 'NODE_ENV') === 'production' && !options.force) {
      throw new UserError('refusing to mint a token with NODE_ENV=production: anyone holding it acts as that user; add --force if that is what you want');
    }
    const ttl = parseNumberArgument(options.ttl, 'ttl', { min: 1, integer: true });
    const { secret } = readJwtKeys(process.env);
    if (secret === undefined) {
      throw new UserError(
        'no shared secret to sign with: set REALTIME_JWT_SECRET (the server then verifies tokens with it); with public keys the tokens come from your auth service, and in development mode the server takes any token unverified',
      );
    }
    // Loaded here, and only its signing module: all of jose takes longer to load than the rest of this command.
    const { SignJWT } = await import('jose/jwt/sign');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ role: options.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(new TextEncoder().encode(secret));
    say(`${token}\n`);
  });
}
