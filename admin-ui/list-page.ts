import { getJson, messageOf, uploadFile } from './api.js';
import { h, setText } from './dom.js';
import {
  formatDate,
  setStatus,
  shortId,
  statusBadge,
  UPLOAD_ACCEPT,
  uploadType,
} from './format.js';
import { follow } from './live.js';
import { clearMessages, showAlert } from './notify.js';
import type { ImportBatch, ListedBatch } from './types.js';

/** How many batches the list shows: the newest. */
const LIST_QUERY = 'limit=50';

/** A row of the table, kept between updates so that a focused link keeps its focus. */
interface BatchRow {
  row: HTMLTableRowElement;
  type: HTMLTableCellElement;
  badge: HTMLSpanElement;
  progress: HTMLProgressElement;
  percent: HTMLSpanElement;
  completed: HTMLTableCellElement;
  failed: HTMLTableCellElement;
}

/** Percent done: the live reading while the batch runs, else the batch's stored counters. */
function percentOf(batch: ListedBatch): number {
  if (batch.progress) return batch.progress.percent;
  const done = batch.completedItems + batch.failedItems + batch.skippedItems;
  return batch.totalItems === 0 ? 100 : Math.floor((done / batch.totalItems) * 1000) / 10;
}

function newRow(batch: ListedBatch): BatchRow {
  const short = shortId(batch.id);
  const cells = {
    type: h('td'),
    badge: statusBadge(batch.status),
    progress: h('progress', { max: 100, 'aria-label': `Progress of batch ${short}` }),
    percent: h('span', { class: 'percent', 'aria-hidden': 'true' }),
    completed: h('td', { class: 'number' }),
    failed: h('td', { class: 'number' }),
  };
  const row = h(
    'tr',
    {},
    h(
      'th',
      { scope: 'row' },
      h('a', { href: `#/batches/${encodeURIComponent(batch.id)}`, class: 'mono' }, short),
    ),
    cells.type,
    h('td', {}, cells.badge),
    h('td', { class: 'progress-cell' }, cells.progress, cells.percent),
    cells.completed,
    cells.failed,
    h('td', {}, formatDate(batch.createdAt)),
  );
  return { row, ...cells };
}

function updateRow(view: BatchRow, batch: ListedBatch): void {
  // A reprocess is a batch of its own in the list: say whose, so that it is not taken for a new import.
  setText(
    view.type,
    batch.parentBatchId
      ? `${batch.batchType} (reprocess of ${shortId(batch.parentBatchId)})`
      : batch.batchType,
  );
  setStatus(view.badge, batch.status);
  const percent = percentOf(batch);
  view.progress.value = percent;
  setText(view.percent, `${percent}%`);
  setText(view.completed, String(batch.progress?.completed ?? batch.completedItems));
  setText(view.failed, String(batch.progress?.failed ?? batch.failedItems));
}

function importForm(): HTMLFormElement {
  const type = h('select', { id: 'batch-type', name: 'batchType', required: true });
  const file = h('input', {
    id: 'import-file',
    name: 'file',
    type: 'file',
    accept: UPLOAD_ACCEPT,
    required: true,
  });
  const submit = h('button', { type: 'submit' }, 'Import');
  const form = h(
    'form',
    { 'aria-label': 'New import', class: 'panel form-row' },
    h('div', { class: 'field' }, h('label', { for: 'batch-type' }, 'Batch type'), type),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'import-file' }, 'File (CSV or JSON lines)'),
      file,
    ),
    submit,
  );

  getJson<{ batchType: string }[]>('batch-types').then(
    (types) => {
      for (const { batchType } of types) type.append(h('option', { value: batchType }, batchType));
    },
    (error: unknown) => showAlert(messageOf(error)),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen || !type.value) {
      showAlert('Choose a batch type and a file to import.');
      return;
    }
    const contentType = uploadType(chosen.name);
    if (!contentType) {
      showAlert(
        `"${chosen.name}" is neither .csv nor .jsonl (.ndjson): choose a CSV or JSON lines file.`,
      );
      return;
    }
    submit.disabled = true;
    clearMessages();
    uploadFile<ImportBatch>(
      `batches?batchType=${encodeURIComponent(type.value)}`,
      chosen,
      contentType,
    )
      .then((batch) => {
        location.hash = `#/batches/${encodeURIComponent(batch.id)}`;
      })
      .catch((error: unknown) => showAlert(messageOf(error)))
      .finally(() => {
        submit.disabled = false;
      });
  });
  return form;
}

/** The list page (`#/`): the import form and the newest batches, live. Returns its teardown. */
export function renderListPage(main: HTMLElement): () => void {
  const body = h('tbody');
  const empty = h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No imports yet.'));
  const table = h(
    'table',
    {},
    h('caption', {}, 'Batches'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['Batch', 'Type', 'Status', 'Progress', 'Completed', 'Failed', 'Created'].map((name) =>
          h('th', { scope: 'col' }, name),
        ),
      ),
    ),
    body,
  );
  main.append(
    h('h1', { tabindex: -1 }, 'Imports'),
    importForm(),
    h('div', { class: 'table-scroll' }, table),
  );

  const rows = new Map<string, BatchRow>();
  function show(batches: ListedBatch[]): void {
    const seen = new Set<string>();
    batches.forEach((batch, index) => {
      seen.add(batch.id);
      let view = rows.get(batch.id);
      if (!view) {
        view = newRow(batch);
        rows.set(batch.id, view);
      }
      updateRow(view, batch);
      // Moved only when out of place: moving a node takes the focus away from a link in it.
      if (body.children[index] !== view.row)
        body.insertBefore(view.row, body.children[index] ?? null);
    });
    for (const [id, view] of rows) {
      if (!seen.has(id)) {
        view.row.remove();
        rows.delete(id);
      }
    }
    if (batches.length === 0) body.replaceChildren(empty);
    else empty.remove();
  }

  // The list at once; the stream only once the API answered (a refusal is said once, in the alert).
  let stop: (() => void) | undefined;
  let closed = false;
  getJson<ListedBatch[]>(`batches?${LIST_QUERY}`).then(
    (batches) => {
      if (closed) return;
      show(batches);
      stop = follow<{ batches: ListedBatch[] }>(`batches/stream?${LIST_QUERY}`, 'batches', (data) =>
        show(data.batches),
      );
    },
    (error: unknown) => showAlert(messageOf(error)),
  );
  return () => {
    closed = true;
    stop?.();
  };
}
