import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/** A name for one processing run, unique across processes and machines, readable in `locked_by`. */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}
