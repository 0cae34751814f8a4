// Log lines made readable for a terminal: each JSON line laid out by pino-pretty, with the control characters of its text escaped.
import pinoPretty from 'pino-pretty';
import { PRETTY_LOG_OPTIONS, UNPRINTABLE_CHARACTERS } from '@nself/db';

const UNPRINTABLE = new RegExp(UNPRINTABLE_CHARACTERS.source, 'gu');

/**
 * A function from one JSON log line to its readable text (newline-terminated; a line that is not a JSON object comes back as it is,
 * escaped). Strings a client chose (topics, reasons) cannot move the cursor or recolour the terminal: their control characters print as `\u001b`.
 */
export function readableLogLines(options: { colorize?: boolean } = {}): (line: string) => string {
  const prettify = pinoPretty.prettyFactory({ ...PRETTY_LOG_OPTIONS, ...options });
  return (line) => {
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = undefined;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return `${escapeText(line.replace(/\n$/, ''))}\n`;
    return prettify(escapeStrings(entry));
  };
}

/** Every string in `value` escaped; in an error (`err`), whose stack spans lines, line breaks stay. */
function escapeStrings(value: unknown, keepNewlines = false): unknown {
  if (typeof value === 'string') return escapeText(value, keepNewlines);
  if (Array.isArray(value)) return value.map((item) => escapeStrings(item, keepNewlines));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [escapeText(key), escapeStrings(item, keepNewlines || key === 'err')]));
  }
  return value;
}

function escapeText(text: string, keepNewlines = false): string {
  return text.replace(UNPRINTABLE, (character) => (keepNewlines && character === '\n' ? character : `\\u${(character.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`));
}
