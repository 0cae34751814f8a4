#!/usr/bin/env node
// Rewrites the configuration table of README.md from the settings declared in @nself/db (run `npm run docs:settings`).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderSettingsTable, SETTINGS_TABLE_END, SETTINGS_TABLE_START } from '@nself/db';

const readme = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'README.md');
const text = readFileSync(readme, 'utf8');
const start = text.indexOf(SETTINGS_TABLE_START);
const end = text.indexOf(SETTINGS_TABLE_END);
if (start < 0 || end < start) throw new Error(`README.md has no "${SETTINGS_TABLE_START}" ... "${SETTINGS_TABLE_END}" section`);
writeFileSync(readme, `${text.slice(0, start + SETTINGS_TABLE_START.length)}\n${renderSettingsTable()}\n${text.slice(end)}`);
