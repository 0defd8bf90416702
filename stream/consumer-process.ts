// What the stream's long-running Kafka consumers share (the scorer, the quality monitor): start connects or releases
// what it took; stop releases everything once; `done` settles when the process stops.
import type { Consumer, EachBatchPayload } from '../clients/kafka';
import type { Logger } from '../observability/log';

/** A group assignment as text (topics and partitions sorted), to tell a rebalance that moved partitions. */
export function describeAssignment(memberAssignment: Record<string, number[]>): string {
  return JSON.stringify(
    Object.entries(memberAssignment)
      .map(([topic, partitions]) => [topic, [...partitions].sort((a, b) => a - b)])
      .sort(),
  );
}

export abstract class ConsumerProcess {
  /** Settles when it stops: resolves after stop(), rejects on a fatal error. */
  readonly done: Promise<void>;
  /** False from the moment it starts stopping. */
  protected running = true;
  private stopping: Promise<void> | undefined;
  private settle!: { resolve: () => void; reject: (err: Error) => void };

  protected constructor(
    private readonly processLog: Logger,
    /** How the process is named in its log, e.g. 'stream scorer'. */
    private readonly what: string,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.done.catch(() => undefined); // a caller that never awaits `done` must not crash the process
  }

  /** Connects the process; if that fails, releases what it took and rethrows. */
  protected static async started<T extends ConsumerProcess>(process: T): Promise<T> {
    try {
      await process.connect();
    } catch (err) {
      await process.stop().catch(() => undefined);
      throw err;
    }
    return process;
  }

  protected abstract connect(): Promise<void>;

  /** Releases everything (the work in flight finished first); called once, after `running` turned false. */
  protected abstract release(): Promise<void>;

  /**
   * Subscribes the consumer to `topics` (no auto-commit: each process commits its own way) and runs it; resolves once
   * the group assigned partitions and `onAssignment` placed them. An error there, or a crash kafkajs does not restart,
   * stops the process. Batches wait for the first assignment.
   */
  protected async consume(
    consumer: Consumer,
    topics: string[],
    onAssignment: (memberAssignment: Record<string, number[]>) => Promise<void>,
    eachBatch: (payload: EachBatchPayload) => Promise<void>,
  ): Promise<void> {
    let assigned!: () => void;
    let failed!: (err: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      assigned = resolve;
      failed = reject;
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      onAssignment(payload.memberAssignment).then(assigned, (err: Error) => {
        failed(err);
        this.fail(err);
      });
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async (payload) => {
        await ready;
        await eachBatch(payload);
      },
    });
    await ready;
  }

  /** Finishes the work in flight, then leaves the group; nothing uncommitted is lost (it is read again next time). */
  stop(): Promise<void> {
    return this.shutdown();
  }

  protected fail(err: Error): void {
    if (!this.running) return;
    this.processLog.error({ err: err.message, stack: err.stack }, `${this.what} stopped on an error`);
    void this.shutdown(err);
  }

  private shutdown(error?: Error): Promise<void> {
    this.stopping ??= (async () => {
      this.running = false;
      await this.release();
      if (error) this.settle.reject(error);
      else this.settle.resolve();
    })();
    return this.stopping;
  }
}
