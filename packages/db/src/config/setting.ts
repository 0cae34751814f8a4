// What a setting is (its documentation and its parser), and the parsers for each kind of value.
import { UserError } from '../errors.js';

/** One setting: how it is documented and how its raw text becomes a value (or a UserError naming it). */
export interface Setting<T> {
  /** The `nself realtime` option that overrides the variable, if any. */
  readonly flag?: string;
  /** The default as the README shows it. */
  readonly shownDefault: string;
  /** What values are accepted, as the README shows it. */
  readonly accepts: string;
  /** One line on what the setting does. */
  readonly description: string;
  /**
   * Reads the raw text (undefined or blank: the default); `label` names the source in errors (the
   * variable, or the flag). Throws a UserError saying what was wrong and what is accepted.
   */
  readonly parse: (raw: string | undefined, label: string) => T;
}

interface Documentation {
  readonly flag?: string;
  readonly description: string;
}

/** A whole number from `min` to `max`. */
export function integer(fallback: number, min: number, max: number, doc: Documentation): Setting<number> {
  const accepts = `a whole number from ${min} to ${max}`;
  return {
    ...doc,
    shownDefault: String(fallback),
    accepts,
    parse: (raw, label) => {
      const text = raw?.trim();
      if (!text) return fallback;
      const value = Number(text);
      if (!/^\d+$/.test(text) || value < min || value > max) throw invalid(label, text, accepts);
      return value;
    },
  };
}

/** A whole number from `min` to `max` whose default depends on other settings: undefined when unset. */
export function derivedInteger(shownDefault: string, min: number, max: number, doc: Documentation): Setting<number | undefined> {
  const { parse, accepts } = integer(0, min, max, doc);
  return { ...doc, shownDefault, accepts, parse: (raw, label) => (raw?.trim() ? parse(raw, label) : undefined) };
}

/** A number of 0 or more, fractions allowed; `unit` and `examples` make the error read naturally. */
export function decimal(fallback: number, unit: string, examples: string, doc: Documentation): Setting<number> {
  const accepts = `a number of ${unit} of 0 or more, such as ${examples}`;
  return {
    ...doc,
    shownDefault: String(fallback),
    accepts,
    parse: (raw, label) => {
      const text = raw?.trim();
      if (!text) return fallback;
      if (!/^\d+(\.\d+)?$/.test(text)) throw invalid(label, text, accepts);
      return Number(text);
    },
  };
}

const TRUE_WORDS = ['true', '1', 'on', 'yes'];
const FALSE_WORDS = ['false', '0', 'off', 'no'];

/** A yes or no, in any of the usual spellings. */
export function boolean(fallback: boolean, doc: Documentation): Setting<boolean> {
  const accepts = `one of: ${[...TRUE_WORDS, ...FALSE_WORDS].join(', ')}`;
  return {
    ...doc,
    shownDefault: String(fallback),
    accepts,
    parse: (raw, label) => {
      const text = raw?.trim();
      if (!text) return fallback;
      if (TRUE_WORDS.includes(text.toLowerCase())) return true;
      if (FALSE_WORDS.includes(text.toLowerCase())) return false;
      throw invalid(label, text, accepts);
    },
  };
}

/** One word of a fixed list; `caseless` also accepts it in capitals. */
export function choice<C extends string>(fallback: C, choices: readonly C[], doc: Documentation & { readonly caseless?: boolean }): Setting<C> {
  const accepts = `one of: ${choices.join(', ')}`;
  return {
    ...doc,
    shownDefault: fallback,
    accepts,
    parse: (raw, label) => {
      const text = raw?.trim();
      if (!text) return fallback;
      const word = doc.caseless ? text.toLowerCase() : text;
      if (!(choices as readonly string[]).includes(word)) throw invalid(label, text, accepts);
      return word as C;
    },
  };
}

/** Free text, trimmed; blank is undefined (the setting's documented default applies where it is used). */
export function text(shownDefault: string, accepts: string, doc: Documentation): Setting<string | undefined> {
  return { ...doc, shownDefault, accepts, parse: (raw) => raw?.trim() || undefined };
}

/** A setting with its own parser, for values with a structure of their own (JSON, lists of origins). */
export function custom<T>(shownDefault: string, accepts: string, doc: Documentation, parse: Setting<T>['parse']): Setting<T> {
  return { ...doc, shownDefault, accepts, parse };
}

/** The error for a value outside what a setting accepts: `NAME "value" is not valid; expected …`. */
export function invalid(label: string, value: string, accepts: string): UserError {
  return new UserError(`${label} "${value}" is not valid; expected ${accepts}`);
}
