// Finds where JSON text stops being valid, so that error messages can point at the exact character.

/**
 * The 0-based index of the first character at which `text` is not valid JSON (its length when the
 * input ends too early), or -1 when it is valid.
 */
export function jsonSyntaxErrorPosition(text: string): number {
  let index = 0;
  const fail = (): never => {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the index unwinds the parse to the catch below, which returns it
    throw index;
  };
  const skipWhitespace = () => {
    while (index < text.length && ' \t\n\r'.includes(text[index] ?? '')) index += 1;
  };
  const expect = (char: string) => {
    if (text[index] !== char) fail();
    index += 1;
  };
  const string = () => {
    expect('"');
    while (index < text.length) {
      const char = text[index] ?? '';
      if (char === '"') {
        index += 1;
        return;
      }
      if (char < ' ') fail();
      if (char !== '\\') {
        index += 1;
        continue;
      }
      const escape = text[index + 1] ?? '';
      if ('"\\/bfnrt'.includes(escape) && escape !== '') index += 2;
      else if (escape === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(index + 2, index + 6))) index += 6;
      else {
        index += 1;
        fail();
      }
    }
    fail();
  };
  const sequence = (close: string, item: () => void) => {
    index += 1;
    skipWhitespace();
    if (text[index] === close) {
      index += 1;
      return;
    }
    for (;;) {
      item();
      skipWhitespace();
      if (text[index] === ',') {
        index += 1;
        continue;
      }
      expect(close);
      return;
    }
  };
  const value = (): void => {
    skipWhitespace();
    const char = text[index];
    if (char === '{') {
      sequence('}', () => {
        skipWhitespace();
        string();
        skipWhitespace();
        expect(':');
        value();
      });
      return;
    }
    if (char === '[') {
      sequence(']', value);
      return;
    }
    if (char === '"') {
      string();
      return;
    }
    const number = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(index));
    if (number && number[0] !== '' && number[0] !== '-') {
      index += number[0].length;
      return;
    }
    const word = ['true', 'false', 'null'].find((literal) => text.startsWith(literal, index));
    if (word) {
      index += word.length;
      return;
    }
    fail();
  };
  try {
    value();
    skipWhitespace();
    if (index < text.length) fail();
    return -1;
  } catch (position) {
    // Anything but a position (a RangeError from nesting deeper than the stack) is not ours to answer.
    if (typeof position !== 'number') throw position;
    return position;
  }
}
