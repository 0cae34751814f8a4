// The names of table change events, written once: row events, TRUNCATE for capture, and `*` for bindings.

/** What a change to one row is; the `type` of a postgres_changes event. */
export const ROW_EVENTS = ['INSERT', 'UPDATE', 'DELETE'] as const;
export type RowEvent = (typeof ROW_EVENTS)[number];

/** What capture records: the row events, and TRUNCATE once per statement (never sent as a postgres_changes event). */
export const CAPTURE_EVENTS = [...ROW_EVENTS, 'TRUNCATE'] as const;
export type CaptureEvent = (typeof CAPTURE_EVENTS)[number];

/** The `*` of a binding: every row event. */
export const ALL_ROW_EVENTS = '*';

/** What a postgres_changes binding may ask for: one row event, or all of them. */
export const BINDING_EVENTS = [ALL_ROW_EVENTS, ...ROW_EVENTS] as const;
export type BindingEvent = (typeof BINDING_EVENTS)[number];

/** The binding event `event` names in any case (`insert` → `INSERT`), or undefined when it names none. */
export function bindingEventOf(event: string): BindingEvent | undefined {
  const upper = event.toUpperCase();
  return BINDING_EVENTS.find((known) => known === upper);
}
