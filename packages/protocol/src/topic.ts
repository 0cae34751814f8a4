// Topic names: `realtime:<name>` addresses channel `<name>`.
import { TOPIC_PREFIX } from './constants.js';

/** The channel name of a topic (`realtime:room1` → `room1`), or undefined when the topic is not a channel topic. */
export function subTopicOf(topic: string): string | undefined {
  if (topic.slice(0, TOPIC_PREFIX.length).toLowerCase() !== TOPIC_PREFIX) return undefined;
  return topic.slice(TOPIC_PREFIX.length);
}
