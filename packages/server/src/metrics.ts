// Prometheus metrics of one server instance: connections, channels, messages, delivery latencies, join time, listener reconnects, WAL consumer.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The metrics a server updates; each server has its own registry so several can run in one process. */
export interface Metrics {
  readonly registry: Registry;
  readonly connections: Gauge;
  readonly channels: Gauge;
  readonly messagesIn: Counter<'kind'>;
  readonly messagesOut: Counter<'kind'>;
  readonly deliveryLatency: Histogram;
  /** Reads of a channel's log by the broadcast feed: a join's first read, and every notification without its message, gap, reconnect or full page. */
  readonly broadcastLogReads: Counter;
  /** Broadcasts stored by other processes that the feed took from their notification rather than reading them back. */
  readonly broadcastsCarried: Counter;
  /** Broadcast notifications whose MAC did not verify: forged, altered, copied to another place, or signed with a key this process does not have. */
  readonly broadcastNotesRefused: Counter;
  readonly changeDeliveryLatency: Histogram;
  readonly joinDuration: Histogram<'history'>;
  readonly listenerReconnects: Counter;
  /** 1 while this process consumes the replication slot (the elected WAL consumer), else 0. */
  readonly walConsumerLeading: Gauge;
  /** 1 while this process runs the sweeps that run once per server (retention, stale connections and presence, the slot watch), else 0. */
  readonly sweepLeading: Gauge;
  /** Sweeps run by this process, by kind. */
  readonly sweeps: Counter<'kind'>;
  /** Open GraphQL WebSocket connections. */
  readonly graphqlSockets: Gauge;
  /** Distinct GraphQL live queries (subscribers of the same query, variables, role and claims share one). */
  readonly graphqlLiveQueries: Gauge;
  /** Evaluations of GraphQL live queries: one per batch of changes per distinct live query, however many subscribe. */
  readonly graphqlLiveQueryRuns: Counter;
  readonly graphqlLiveQuerySkips: Counter;
}

/** Events clients send that the server handles: the `kind` of a received message is one of these or `other`. */
const CLIENT_EVENTS: ReadonlySet<string> = new Set(['phx_join', 'phx_leave', 'heartbeat', 'broadcast', 'presence', 'access_token']);

/** The `kind` label of a message received with `event`: labels come from a fixed set, never from what a client sent. */
export function receivedKind(event: string): string {
  return CLIENT_EVENTS.has(event) ? event : 'other';
}

/** Latency buckets (seconds): fine below 10 ms, where a realtime server should deliver. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Creates the metrics, registered in a fresh registry. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'realtime_process_' });
  return {
    registry,
    connections: new Gauge({ name: 'realtime_connections', help: 'Open WebSocket connections', registers: [registry] }),
    channels: new Gauge({ name: 'realtime_channels', help: 'Channels joined, over all connections', registers: [registry] }),
    messagesIn: new Counter({ name: 'realtime_messages_in_total', help: 'Messages received from clients', labelNames: ['kind'], registers: [registry] }),
    messagesOut: new Counter({ name: 'realtime_messages_out_total', help: 'Messages sent to clients', labelNames: ['kind'], registers: [registry] }),
    deliveryLatency: new Histogram({
      name: 'realtime_delivery_latency_seconds',
      help: 'Time from a broadcast being stored to its delivery to subscribers',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    broadcastLogReads: new Counter({
      name: 'realtime_broadcast_log_reads_total',
      help: "Reads of a channel's stored broadcasts by this process's broadcast feed, to deliver what notifications did not carry",
      registers: [registry],
    }),
    broadcastsCarried: new Counter({
      name: 'realtime_broadcasts_carried_total',
      help: 'Broadcasts stored by other processes that were delivered from their notification, without reading them back',
      registers: [registry],
    }),
    broadcastNotesRefused: new Counter({
      name: 'realtime_broadcast_notes_refused_total',
      help: "Broadcast notifications whose MAC did not verify with the database's note key (made up, altered or copied to another place by a login that may NOTIFY): taken as positions only, the messages read from the log",
      registers: [registry],
    }),
    changeDeliveryLatency: new Histogram({
      name: 'realtime_change_delivery_latency_seconds',
      help: 'Time from a table change (its clock time in the writing transaction) to its delivery to subscribers',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    joinDuration: new Histogram({
      name: 'realtime_join_duration_seconds',
      help: 'Time from a phx_join arriving to its ok reply; history="read" when it resumed or replayed from the log',
      labelNames: ['history'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    listenerReconnects: new Counter({ name: 'realtime_listener_reconnects_total', help: 'Reconnections of the database listener', registers: [registry] }),
    walConsumerLeading: new Gauge({ name: 'realtime_wal_consumer_leading', help: 'Whether this process consumes the replication slot (1) or not (0)', registers: [registry] }),
    sweepLeading: new Gauge({ name: 'realtime_sweep_leading', help: 'Whether this process runs the sweeps that run once per server (1) or not (0)', registers: [registry] }),
    sweeps: new Counter({
      name: 'realtime_sweeps_total',
      help: 'Sweeps run by this process: retention, connections (stale connections and presence)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    graphqlSockets: new Gauge({ name: 'realtime_graphql_sockets', help: 'Open GraphQL WebSocket connections', registers: [registry] }),
    graphqlLiveQueries: new Gauge({ name: 'realtime_graphql_live_queries', help: 'Distinct GraphQL live queries being kept up to date', registers: [registry] }),
    graphqlLiveQueryRuns: new Counter({
      name: 'realtime_graphql_live_query_runs_total',
      help: 'Evaluations of GraphQL live queries after changes to the tables they read',
      registers: [registry],
    }),
    graphqlLiveQuerySkips: new Counter({
      name: 'realtime_graphql_live_query_skips_total',
      help: 'Changes to a table a GraphQL live query reads that could not change its result, so it did not run (counted per live query)',
      registers: [registry],
    }),
  };
}
