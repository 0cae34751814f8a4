// Table change capture commands: subscribe, unsubscribe, subscriptions, listen.
import { Command, Option } from 'commander';
import type { Change, CaptureMode, TableName } from '@nself/db';
import { CAPTURE_MODES, stringifyExact, UserError } from '@nself/db/values';
import { addOutputOptions, parseNumberArgument, outputFormat, takeFormatWord, withExamples, type OutputOptions } from '../args.js';
import { database, allDatabaseOperations } from '../context.js';
import { printRows, say, terminalText } from '../output.js';
import { listenToChannel } from './listen-channel.js';

const LIST_COLUMNS = ['id', 'table', 'events', 'filter', 'capture', 'changes_seen', 'last_change_at', 'created_at', 'state'];

/** Registers `subscribe`, `unsubscribe`, `subscriptions` and `listen`. */
export function registerCaptureCommands(realtime: Command): void {
  withExamples(
    realtime
      .command('subscribe')
      .description('Capture INSERT, UPDATE, DELETE and TRUNCATE of a table (triggers + the ordered change log)')
      .argument('<table>', 'schema.table, e.g. public.users')
      .argument('[events]', 'comma-separated: INSERT,UPDATE,DELETE,TRUNCATE (default: all)')
      .argument('[filter]', 'only rows matching, e.g. "post_id = \'123\'" (= != < <= > >= in, joined by and)')
      .addOption(
        new Option('--capture <mode>', 'notify: NOTIFY each change too (psql LISTEN works); poll: log only, no NOTIFY cost').choices([...CAPTURE_MODES]).default('notify'),
      ),
    [
      'nself realtime subscribe public.users',
      'nself realtime subscribe public.posts INSERT,UPDATE',
      `nself realtime subscribe public.comments INSERT,UPDATE "post_id = '123'"`,
      'nself realtime subscribe public.metrics --capture poll',
    ],
  ).action(async (tableText: string, eventsText: string | undefined, filter: string | undefined, options: { capture: CaptureMode }) => {
    const { parseEvents, parseTableName, subscribe, triggerName } = await allDatabaseOperations();
    const events = eventsText === undefined ? undefined : parseEvents(eventsText);
    // An operator's subscription keeps the seed's NOTIFY payload with the rows, for psql LISTEN (docs/capture.md).
    const result = await subscribe(await database(), {
      table: parseTableName(tableText),
      events,
      filter: filter ?? null,
      capture: options.capture,
      notifyRows: true,
    });
    const s = result.subscription;
    if (result.action === 'unchanged') {
      say(`${s.table} is already subscribed with these settings; nothing changed (subscription ${s.id}).\n`);
      return;
    }
    const verb = result.action === 'created' ? 'Subscribed to' : 'Updated the subscription of';
    const name = { schema: s.schema, table: s.relation };
    say(
      [
        `${verb} ${s.table}: ${s.events.join(', ')}${s.filter ? ` where ${s.filter}` : ''}`,
        `  subscription  ${s.id}`,
        `  function      realtime.${s.functionName}()`,
        `  triggers      ${s.events.map((event) => triggerName(event, name)).join(', ')}`,
        s.capture === 'notify' ? `  channel       ${s.channel}` : '  capture       poll (change log only, no NOTIFY)',
        '',
      ].join('\n'),
    );
  });

  withExamples(
    realtime
      .command('unsubscribe')
      .description('Remove a table subscription: its triggers, its function and its record')
      .argument('<table-or-id>', 'schema.table or the subscription id'),
    ['nself realtime unsubscribe public.users', 'nself realtime unsubscribe 3f0e…-uuid'],
  ).action(async (target: string) => {
    const { unsubscribe } = await allDatabaseOperations();
    const removed = await unsubscribe(await database(), target);
    say(`Unsubscribed ${removed.table}: removed its triggers, function realtime.${removed.functionName}() and subscription ${removed.id}.\n`);
  });

  addOutputOptions(
    withExamples(
      realtime
        .command('subscriptions')
        .description('List table subscriptions: events, filter, changes seen and whether the triggers are in place')
        .argument('[json]', 'print JSON (same as --json)'),
      ['nself realtime subscriptions', 'nself realtime subscriptions --json'],
    ),
  ).action(async (jsonWord: string | undefined, options: OutputOptions) => {
    const format = outputFormat(options, takeFormatWord([jsonWord]).word);
    const pool = await database();
    const { currentPosition, listSubscriptions } = await allDatabaseOperations();
    await currentPosition(pool);
    await printRows(
      format,
      LIST_COLUMNS,
      (await listSubscriptions(pool)).map((s) => ({
        id: s.id,
        table: s.table,
        events: s.events.join(','),
        filter: s.filter,
        capture: s.capture,
        changes_seen: s.changesSeen,
        last_change_at: s.lastChangeAt,
        created_at: s.createdAt,
        state: s.state,
        channel: s.channel,
        function: `realtime.${s.functionName}()`,
      })),
    );
  });

  withExamples(
    realtime
      .command('listen')
      .description('Print each change of a subscribed table as it is committed, or each broadcast of a channel as it is stored (Ctrl+C to stop)')
      .argument('<table-or-channel>', 'schema.table of a subscribed table, e.g. public.users; or a channel slug or id, e.g. general')
      .argument('[seconds]', 'stop after this many seconds (default: until Ctrl+C)')
      .argument('[json]', 'print JSON lines (same as --json)')
      .option('--json', 'print one JSON object per change (with its position) or message (with its offset)')
      .option('--from <position>', "first print the changes after this position, or a channel's messages after this offset (0: the whole kept log), then new ones"),
    [
      'nself realtime listen public.users',
      'nself realtime listen public.users 30',
      'nself realtime listen public.users --json',
      'nself realtime listen public.users --from 1200 --json',
      'nself realtime listen general',
      'nself realtime listen general --from 0 --json',
    ],
  ).action(async (tableText: string, secondsText: string | undefined, jsonWord: string | undefined, options: { json?: boolean; from?: string }) => {
    const {
      args: [secondsArgument],
      word,
    } = takeFormatWord([secondsText, jsonWord]);
    const json = options.json === true || word === 'json';
    const seconds = secondsArgument === undefined ? undefined : parseNumberArgument(secondsArgument, 'seconds', { min: 0 });
    const from = options.from === undefined ? 'now' : parseNumberArgument(options.from, 'position', { min: 0, integer: true });
    await listen(tableText, { json, seconds, from });
  });
}

interface ListenOptions {
  readonly json: boolean;
  readonly seconds: number | undefined;
  readonly from: number | 'now';
}

async function listen(tableText: string, options: ListenOptions): Promise<void> {
  const { ChangeFeed, WalConsumer, displayTableName, findChannel, findSubscription, parseTableName, resolveTable } = await allDatabaseOperations();
  const pool = await database();
  let name: TableName | undefined;
  try {
    name = parseTableName(tableText);
  } catch {
    name = undefined;
  }
  const subscription = name ? await findSubscription(pool, name) : null;
  if (!name || !subscription) {
    // Not a subscribed table: a channel of that name, else the table's own error.
    const channel = await findChannel(pool, tableText);
    if (channel) {
      const last = await listenToChannel(pool, channel, options, (text) => process.stderr.write(terminalText(text, { keepNewlines: true })));
      process.stderr.write(terminalText(`Stopped after offset ${last}; continue with --from ${last}.\n`, { keepNewlines: true }));
      return;
    }
    if (!name) throw new UserError(`no subscribed table or channel "${tableText}"; give schema.table of a subscribed table, or a channel's slug or id`);
    await resolveTable(pool, name);
    throw new UserError(`${displayTableName(name)} is not subscribed; run \`nself realtime subscribe ${displayTableName(name)}\` first`);
  }
  let failed: Error | undefined;
  // On the WAL path the log is written by whichever process consumes the slot: this one, when no server runs.
  const { rows } = await pool.query<{ wal: boolean }>('SELECT realtime.wal_capture_active() AS wal');
  const consumer = rows[0]?.wal
    ? new WalConsumer({
        pool,
        connection: pool.options,
        onError: (error) => {
          failed = error;
        },
      })
    : undefined;
  const events = new Set(subscription.events);
  const feed = await ChangeFeed.start({
    pool,
    from: options.from,
    tables: [name],
    // The WAL path logs every event of a captured table; the subscription names the ones to show.
    onChanges: (changes) => {
      for (const change of changes) if (events.has(change.operation)) say(render(change, subscription.channel, options.json));
    },
    onError: (error) => {
      failed ??= error;
    },
  });
  process.stderr.write(
    terminalText(`Listening to ${subscription.table} after position ${feed.position}${options.seconds === undefined ? ' (Ctrl+C to stop)' : ` for ${options.seconds} s`}.\n`, {
      keepNewlines: true,
    }),
  );
  await new Promise<void>((resolve) => {
    const finish = () => resolve();
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    if (options.seconds !== undefined) setTimeout(finish, options.seconds * 1000).unref();
  });
  await feed.stop();
  await consumer?.stop();
  process.stderr.write(
    terminalText(`Stopped at position ${feed.position}; continue with --from ${feed.position}.${failed ? ` (last database error: ${failed.message})` : ''}\n`, {
      keepNewlines: true,
    }),
  );
}

/** The seed's psql-style lines, or one JSON object per line. */
function render(change: Change, channel: string, json: boolean): string {
  if (json) {
    return (
      stringifyExact({
        position: change.position,
        commit_timestamp: change.commitTimestamp.toISOString(),
        operation: change.operation,
        schema: change.schema,
        table: change.table,
        new: change.new,
        old: change.old,
        columns: change.columns,
      }) + '\n'
    );
  }
  const payload = {
    timestamp: Math.floor(change.commitTimestamp.getTime() / 1000),
    operation: change.operation,
    schema: change.schema,
    table: change.table,
    ...(change.new ? { new: change.new } : {}),
    ...(change.old ? { old: change.old } : {}),
  };
  return `Asynchronous notification "${channel}" received from server process with PID ${change.writerPid}.\nPayload: ${stringifyExact(payload)}\n`;
}
