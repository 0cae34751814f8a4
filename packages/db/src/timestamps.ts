// Parses the points in time users type: unix seconds, unix milliseconds or ISO 8601.
import { UserError } from './errors.js';

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const ACCEPTED = 'expected unix seconds (1643723400), unix milliseconds (1643723400000) or ISO 8601 (2026-01-30T10:00:00Z)';

/**
 * Parses `text` as a point in time. All digits: unix seconds, or milliseconds when 13 digits long
 * (a decimal fraction of seconds is allowed). Otherwise ISO 8601 (`2026-01-30`, `2026-01-30T10:00:00Z`,
 * `2026-01-30 10:00:00+02:00`); without a zone the time is UTC, as the CLI prints times in UTC.
 */
export function parseTimestamp(text: string): Date {
  const value = text.trim();
  const unix = /^(\d{1,13})(\.\d+)?$/.exec(value);
  if (unix) {
    const digits = unix[1] ?? '';
    const milliseconds = digits.length === 13 && !unix[2] ? Number(digits) : Number(value) * 1000;
    return validDate(new Date(milliseconds), text);
  }
  const iso = ISO_8601.exec(value);
  if (!iso) throw new UserError(`invalid timestamp "${text}"; ${ACCEPTED}`);
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone = 'Z'] = iso;
  const normalisedZone = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.length > 3 ? zone.slice(-2) : '00'}`;
  const millis = fraction ? fraction.slice(0, 4).padEnd(4, '0') : '';
  const date = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}${millis}${normalisedZone}`);
  // Date accepts 2026-02-31 by rolling over; reject days and times that do not exist.
  const checkDay = new Date(`${year}-${month}-${day}T00:00:00Z`);
  if (Number.isNaN(checkDay.getTime()) || checkDay.toISOString().slice(0, 10) !== `${year}-${month}-${day}` || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) {
    throw new UserError(`invalid timestamp "${text}": no such date or time; ${ACCEPTED}`);
  }
  return validDate(date, text);
}

function validDate(date: Date, text: string): Date {
  if (Number.isNaN(date.getTime())) throw new UserError(`invalid timestamp "${text}"; ${ACCEPTED}`);
  return date;
}
