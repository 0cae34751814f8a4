// The README's configuration table, rendered from the settings so that the two cannot disagree.
import { SETTINGS, type SettingName } from './settings.js';

/** The markers around the generated table in README.md. */
export const SETTINGS_TABLE_START = '<!-- settings table: generated from packages/db/src/config/settings.ts by `npm run docs:settings` -->';
export const SETTINGS_TABLE_END = '<!-- end of settings table -->';

/** The markdown table of every setting: variable, flag, default, accepted values, meaning. */
export function renderSettingsTable(): string {
  const rows = (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const setting: { flag?: string; shownDefault: string; accepts: string; description: string } = SETTINGS[name];
    const cells = [`\`${name}\``, setting.flag ? `\`${setting.flag}\`` : '', setting.shownDefault, setting.accepts, setting.description];
    return `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  });
  return ['| variable | `start` flag | default | accepted | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
