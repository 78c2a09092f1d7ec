// The live table's data path, outside React: a fixed-size ring buffer the stream
// writes into at any rate, and counters. The page renders from it at most ten times a
// second and only the rows in view, so the cost of a flow is one JSON.parse and one
// array store, whatever the rate.

export class Ring<T> {
  private items: (T | undefined)[];
  private head = 0; // next write position
  size = 0;
  /** Bumped on every write: the renderer compares it with the version it last drew. */
  version = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  pushAll(values: T[]): void {
    const start = Math.max(0, values.length - this.capacity);
    for (let i = start; i < values.length; i++) {
      this.items[this.head] = values[i];
      this.head = (this.head + 1) % this.capacity;
    }
    this.size = Math.min(this.capacity, this.size + values.length - start);
    this.version++;
  }

  /** The i-th newest item (0: the newest). */
  newest(i: number): T | undefined {
    if (i < 0 || i >= this.size) return undefined;
    return this.items[(this.head - 1 - i + this.capacity * 2) % this.capacity];
  }

  /** The items newest first (a snapshot, for pausing). */
  snapshot(): T[] {
    const out: T[] = new Array<T>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.newest(i)!;
    return out;
  }

  clear(): void {
    this.items = new Array<T | undefined>(this.capacity);
    this.head = 0;
    this.size = 0;
    this.version++;
  }
}

/** What the live table has received and drawn; read by the end-to-end test's
 * throughput figure (window.netwardenLiveStats) and shown under the table. */
export interface LiveStats {
  received: number;
  /** Flows received before the last drawn frame (drawn = folded into the table). */
  rendered: number;
  frames: number;
  lost: number;
  /** The longest gap between two render ticks while the stream was open (ms): a
   * frozen page shows up here. */
  maxTickGapMs: number;
  openedAt: number;
}

export function newStats(): LiveStats {
  return { received: 0, rendered: 0, frames: 0, lost: 0, maxTickGapMs: 0, openedAt: performance.now() };
}
