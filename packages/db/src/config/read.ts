// Reading settings from the environment or a command-line flag, and the values several settings make together.
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

/** The HS256 secret: REALTIME_JWT_SECRET, else the `key` of HASURA_GRAPHQL_JWT_SECRET; undefined in development mode. */
export function readJwtSecret(env: NodeJS.ProcessEnv): string | undefined {
  return readSetting(env, 'REALTIME_JWT_SECRET') ?? readSetting(env, 'HASURA_GRAPHQL_JWT_SECRET');
}

/** The directory that holds local state: NSELF_DATA_DIR, else `.nself/` in the working directory. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(readSetting(env, 'NSELF_DATA_DIR') ?? path.join(process.cwd(), '.nself'));
}

/** Where the server writes its log: REALTIME_LOG_FILE, else `<state dir>/logs/realtime.log`. */
export function logFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(readSetting(env, 'REALTIME_LOG_FILE') ?? path.join(defaultStateDir(env), 'logs', 'realtime.log'));
}
