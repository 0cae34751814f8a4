// Batching of concurrent requests: those made while a run is in flight wait, and the next run answers them together; one run at a time.

/** A request waiting for its run, and how the run answers it. */
export interface Waiting<Request, Answer> {
  readonly request: Request;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: unknown) => void;
}

export interface BatchOptions<Request, Answer> {
  /**
   * Answers one batch, settling each of its requests. A request it leaves unsettled when it throws is
   * rejected with that error.
   */
  readonly run: (batch: readonly Waiting<Request, Answer>[]) => Promise<void>;
  /**
   * When the first run starts: `now`, in the turn of the first request (a lone request waits for
   * nothing), or `next-turn`, after the requests made in the same turn of the event loop have joined it.
   */
  readonly start: 'now' | 'next-turn';
  /** Most requests in one run; the others wait for the next. @default no limit */
  readonly maxBatch?: number;
}

/**
 * Requests answered in batches: a request made while no run is in flight starts one (see `start`); one
 * made while a run is in flight waits for the next run, which takes every request waiting (up to
 * `maxBatch`). So each request is answered by a run that started after it was made.
 */
export class Batches<Request, Answer> {
  private waiting: Waiting<Request, Answer>[] = [];
  private running = false;

  constructor(
    private readonly options: BatchOptions<Request, Answer>,
    /** Called when the last run ends with no request waiting. */
    private readonly onIdle?: () => void,
  ) {}

  /** The answer to `request`, from the next run. */
  request(request: Request): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (this.running) return;
      this.running = true;
      if (this.options.start === 'now') void this.runWaiting();
      else setImmediate(() => void this.runWaiting());
    });
  }

  private async runWaiting(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatch ?? this.waiting.length);
      try {
        await this.options.run(batch);
      } catch (error) {
        // Rejecting a request already answered does nothing.
        for (const waiting of batch) waiting.reject(error);
      }
    }
    this.running = false;
    this.onIdle?.();
  }
}

/** Batches of requests per key (a channel, a read): each key's requests are batched on their own, and a key is forgotten while it has none. */
export class KeyedBatches<Request, Answer> {
  private readonly batches = new Map<string, Batches<Request, Answer>>();

  constructor(
    private readonly options: Omit<BatchOptions<Request, Answer>, 'run'> & { readonly run: (key: string, batch: readonly Waiting<Request, Answer>[]) => Promise<void> },
  ) {}

  /** The answer to `request`, from the next run of `key`'s batches. */
  request(key: string, request: Request): Promise<Answer> {
    let batches = this.batches.get(key);
    if (!batches) {
      const forKey: Batches<Request, Answer> = new Batches({ ...this.options, run: (batch) => this.options.run(key, batch) }, () => {
        if (this.batches.get(key) === forKey) this.batches.delete(key);
      });
      batches = forKey;
      this.batches.set(key, batches);
    }
    return batches.request(request);
  }
}

/**
 * Loads by key, shared: the callers of a key that ask while its load is waiting or running get the
 * result of the next load, run once for all of them. A load already running is never shared with a
 * later caller, so every caller gets a result read after it asked (what it has already been told stays consistent).
 */
export function sharedLoads<T>(): KeyedBatches<() => Promise<T>, T> {
  return new KeyedBatches<() => Promise<T>, T>({
    start: 'next-turn',
    run: async (_key, batch) => {
      const load = batch[0]?.request;
      if (!load) return;
      const value = await load();
      for (const waiting of batch) waiting.resolve(value);
    },
  });
}
