// Reconnect delays: exponential backoff with jitter, so that many clients do not reconnect in step.

/** Longest delay between two attempts. */
const MAX_DELAY_MS = 10_000;
/** First delay. */
const BASE_DELAY_MS = 500;

/**
 * The delay before attempt number `tries` (1 for the first retry): doubles from 500 ms up to 10 s,
 * then a random value between half of it and all of it ("equal jitter").
 */
export function reconnectDelay(tries: number): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, tries - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
