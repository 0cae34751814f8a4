// Reading settings from the environment or a command-line flag, and the values several settings make together.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS, type SettingName, type SettingValue } from './settings.js';

/** The value of one setting in `env`; throws a UserError naming the variable when it is not valid. */
export function readSetting<N extends SettingName>(env: NodeJS.ProcessEnv, name: N): SettingValue<N> {
  return SETTINGS[name].parse(env[name], name) as SettingValue<N>;
}

/** The value of a command-line flag that overrides a setting, validated as the setting is. */
export function readFlag<N extends SettingName>(name: N, raw: string): SettingValue<N> {
  const setting: { readonly flag?: string } = SETTINGS[name];
  if (!setting.flag) throw new Error(`${name} has no command-line flag`);
  return SETTINGS[name].parse(raw, setting.flag) as SettingValue<N>;
}

/** The keys client tokens are verified with, all undefined in development mode. */
export interface JwtKeys {
  readonly secret: string | undefined;
  readonly publicKey: string | undefined;
  readonly jwksUrl: string | undefined;
}

/**
 * REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEY and REALTIME_JWKS_URL; where none is set, what
 * Hasura's HASURA_GRAPHQL_JWT_SECRET gives (its secret, public key or `jwk_url`).
 */
export function readJwtKeys(env: NodeJS.ProcessEnv): JwtKeys {
  const own = {
    secret: readSetting(env, 'REALTIME_JWT_SECRET'),
    publicKey: readSetting(env, 'REALTIME_JWT_PUBLIC_KEY'),
    jwksUrl: readSetting(env, 'REALTIME_JWKS_URL'),
  };
  if (own.secret !== undefined || own.publicKey !== undefined || own.jwksUrl !== undefined) return own;
  const hasura = readSetting(env, 'HASURA_GRAPHQL_JWT_SECRET');
  return { secret: hasura?.secret, publicKey: hasura?.publicKey, jwksUrl: hasura?.jwksUrl };
}

/**
 * The directory that holds local state: NSELF_DATA_DIR; else the project's `.nself/`, found as git finds
 * `.git`: the nearest one, in the working directory or above it, that holds an embedded database; else
 * `.nself/` in the working directory.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const configured = readSetting(env, 'NSELF_DATA_DIR');
  if (configured !== undefined) return path.resolve(configured);
  return findProjectStateDir(cwd) ?? path.join(path.resolve(cwd), '.nself');
}

/** The nearest `.nself/` holding an embedded database (`postgres/instance.json`), from `from` upward; undefined when there is none. */
export function findProjectStateDir(from: string): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, '.nself');
    if (existsSync(path.join(candidate, 'postgres', 'instance.json'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Where the server writes its log: REALTIME_LOG_FILE, else `<state dir>/logs/realtime.log`. */
export function logFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(readSetting(env, 'REALTIME_LOG_FILE') ?? path.join(defaultStateDir(env), 'logs', 'realtime.log'));
}
