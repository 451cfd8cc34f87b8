import { h } from './dom.js';
import type { BatchStatus } from './types.js';

/** How the page names a batch: the first 8 characters of its id, as git names commits. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function statusBadge(status: BatchStatus): HTMLSpanElement {
  const badge = h('span', { class: 'badge' });
  setStatus(badge, status);
  return badge;
}

/** Updates a badge in place: the list updates every second. */
export function setStatus(badge: HTMLElement, status: BatchStatus): void {
  badge.dataset.status = status;
  badge.textContent = status.replace(/_/g, ' ');
}

/** The body type of an upload, by the file's extension; undefined for a type the server does not read. */
export function uploadType(fileName: string): string | undefined {
  const extension = /\.([^.]+)$/.exec(fileName.toLowerCase())?.[1];
  if (extension === 'csv') return 'text/csv';
  if (extension === 'jsonl' || extension === 'ndjson') return 'application/x-ndjson';
  return undefined;
}

export const UPLOAD_ACCEPT = '.csv,.jsonl,.ndjson,text/csv,application/x-ndjson';

export function formatDate(iso: string | null): string {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** "1 row", "2 rows". */
export function rows(count: number): string {
  return `${count} ${count === 1 ? 'row' : 'rows'}`;
}
