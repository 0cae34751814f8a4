// A node:test reporter writing one JSON line per run: the runner's counts and each test file's wall time.

/** Counters node's runner reports at the end of a run, as `name value` diagnostics. */
const COUNTERS = new Set(['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo']);

export default async function* summary(source) {
  const counts = {};
  const files = {};
  for await (const event of source) {
    // Each file runs as one top-level test named after its path; its completion carries the file's wall time.
    if (event.type === 'test:complete' && event.data.file && event.data.name === event.data.file) {
      files[event.data.file] = event.data.details.duration_ms;
    }
    if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      const [name, value] = event.data.message.split(' ');
      if (COUNTERS.has(name)) counts[name] = Number(value);
    }
  }
  yield `${JSON.stringify({ counts, files })}\n`;
}
