import { getJson, messageOf, sendJson, uploadFile } from './api.js';
import { button, h, setText } from './dom.js';
import { rows, setStatus, shortId, statusBadge, UPLOAD_ACCEPT, uploadType } from './format.js';
import { FailuresTable } from './failures-table.js';
import { follow } from './live.js';
import { clearMessages, showAlert, showStatus } from './notify.js';
import { ReasonDialog, type ReasonDialogText } from './reason-dialog.js';
import type { BatchStatus, BatchView, CorrectionsResult, LineageBatch } from './types.js';

/** Statuses in which no run will take the batch again: a reprocess of the tree may start. */
const ENDED: BatchStatus[] = [
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
  'rejected',
];

/** The operator's actions on a batch, and the statuses in which the server takes each. */
const CONTROLS: {
  label: string;
  verb: string;
  done: string;
  when: BatchStatus[];
  /** For an action that ends the batch for good: asked first, with an optional reason. */
  ask?: ReasonDialogText;
}[] = [
  { label: 'Pause', verb: 'pause', done: 'Paused', when: ['pending', 'processing'] },
  { label: 'Resume', verb: 'resume', done: 'Resumed', when: ['paused'] },
  {
    label: 'Cancel',
    verb: 'cancel',
    done: 'Cancelled',
    when: ['pending', 'processing', 'paused', 'awaiting_approval'],
    ask: {
      title: 'Cancel this batch?',
      text: 'Its rows that have not run are cancelled, and no run takes it again. The rows done stay done; a reprocess can run the others later.',
      confirm: 'Cancel batch',
    },
  },
  { label: 'Approve', verb: 'approve', done: 'Approved', when: ['awaiting_approval'] },
  {
    label: 'Reject',
    verb: 'reject',
    done: 'Rejected',
    when: ['awaiting_approval'],
    ask: {
      title: 'Reject this batch?',
      text: 'None of its rows is processed: they are cancelled, and the batch ends as rejected.',
      confirm: 'Reject batch',
    },
  },
];

/** A batch of the tree in the list, updated in place. */
interface TreeEntry {
  item: HTMLLIElement;
  badge: HTMLSpanElement;
  counts: HTMLSpanElement;
}

function treeCounts(batch: LineageBatch, percent: number | undefined): string {
  const live = percent === undefined ? '' : `, ${percent}% done`;
  return `${rows(batch.totalItems)}: ${batch.completedItems} completed, ${batch.failedItems} failed${live}`;
}

/**
 * The batch page (`#/batches/<id>`): the tree's counts, its batches, the actions and the failures, all
 * following `batches/:id/stream`. Returns its teardown.
 */
export function renderBatchPage(main: HTMLElement, id: string): () => void {
  const base = `batches/${encodeURIComponent(id)}`;
  const short = shortId(id);
  const type = h('span', { class: 'batch-type' });
  // Hidden until the first reading: no status, and no action, is shown before the server said which.
  const badge = statusBadge('pending');
  badge.hidden = true;
  const heading = h('h1', { tabindex: -1 }, `Batch ${short}`);
  const errorMessage = h('p', { class: 'batch-error', hidden: true });

  const done = h('p', { class: 'done' });
  const progress = h('progress', { 'aria-label': 'Progress', max: 1, value: 0 });
  const counts = new Map<string, HTMLElement>();
  const list = h('dl', { class: 'counts' });
  for (const term of ['Rows', 'Completed', 'Failed', 'Resolved', 'Unresolved']) {
    const value = h('dd');
    counts.set(term, value);
    list.append(h('div', {}, h('dt', {}, term), value));
  }

  /** Runs an action, says its outcome, and reads the batch at once rather than at the next event. */
  async function act(run: () => Promise<unknown>, outcome: (result: never) => string) {
    clearMessages();
    try {
      const result = await run();
      showStatus(outcome(result as never));
    } catch (error) {
      showAlert(messageOf(error));
      return;
    }
    getJson<BatchView>(base).then(apply, () => undefined);
  }

  const reprocess = button(
    'Reprocess failed rows',
    () =>
      void act(
        () => sendJson('POST', `${base}/reprocess`, { failedItemsOnly: true, wait: false }),
        () => 'Reprocess started',
      ),
    { hidden: true },
  );
  const controls = CONTROLS.map((control) => {
    const dialog = control.ask && new ReasonDialog(control.ask);
    const run = async () => {
      const reason = dialog ? await dialog.ask() : '';
      if (reason === null) return;
      await act(
        () => sendJson('POST', `${base}/${control.verb}`, reason ? { reason } : {}),
        () => control.done,
      );
    };
    const element = button(control.label, () => void run(), {
      class: dialog ? 'danger' : 'secondary',
      hidden: true,
    });
    return { ...control, element, dialog };
  });

  const correctionsFile = h('input', {
    id: 'corrections-file',
    type: 'file',
    accept: UPLOAD_ACCEPT,
  });
  const upload = button('Upload corrections', () => {
    const file = correctionsFile.files?.[0];
    if (!file) {
      showAlert(
        'Choose the corrections file first: an edited failures download (CSV) or JSON lines.',
      );
      return;
    }
    const contentType = uploadType(file.name);
    if (!contentType) {
      showAlert(
        `"${file.name}" is neither .csv nor .jsonl (.ndjson): choose a CSV or JSON lines file.`,
      );
      return;
    }
    void act(
      () => uploadFile<CorrectionsResult>(`${base}/corrections/file`, file, contentType),
      (result: CorrectionsResult) => `Corrected ${rows(result.corrected)}`,
    ).then(() => failures.refresh(columns));
  });

  const buttons = h(
    'div',
    { class: 'toolbar' },
    reprocess,
    ...controls.map((control) => control.element),
  );

  const tree = h('ul', { 'aria-label': 'Batches of this import', class: 'tree' });
  const treeEntries = new Map<string, TreeEntry>();
  const failures = new FailuresTable(id);
  let columns: string[] | null = null;

  main.append(
    h('nav', {}, h('a', { href: '#/' }, 'All imports')),
    h('header', { class: 'batch-header' }, heading, type, badge),
    errorMessage,
    h('section', { class: 'panel summary' }, done, progress, list),
    h(
      'section',
      { class: 'panel actions', 'aria-label': 'Actions' },
      buttons,
      h(
        'div',
        { class: 'toolbar' },
        h(
          'a',
          { href: `${base}/failures/export?format=csv`, download: '' },
          'Download failures (CSV)',
        ),
        h('label', { for: 'corrections-file' }, 'Corrections file'),
        correctionsFile,
        upload,
      ),
    ),
    h('section', { class: 'panel' }, h('h2', {}, 'Batches of this import'), tree),
    failures.element,
    ...controls.flatMap((control) => (control.dialog ? [control.dialog.element] : [])),
  );

  /** Hides what the status does not allow; a hidden button loses the focus, so it goes to the heading. */
  function show(element: HTMLElement, visible: boolean): void {
    if (!visible && document.activeElement === element) heading.focus();
    element.hidden = !visible;
  }

  function showTree(view: BatchView): void {
    const seen = new Set<string>();
    view.lineage.batches.forEach((batch, index) => {
      seen.add(batch.batchId);
      let entry = treeEntries.get(batch.batchId);
      if (!entry) {
        const label = `Batch ${shortId(batch.batchId)}${batch.depth === 0 ? '' : ` (reprocess ${index})`}`;
        entry = {
          item: h('li'),
          badge: statusBadge(batch.status),
          counts: h('span', { class: 'note' }),
        };
        entry.item.append(
          h(
            'a',
            {
              href: `#/batches/${encodeURIComponent(batch.batchId)}`,
              'aria-current': batch.batchId === id ? 'page' : undefined,
            },
            label,
          ),
          ' ',
          entry.badge,
          ' ',
          entry.counts,
        );
        treeEntries.set(batch.batchId, entry);
        tree.append(entry.item);
      }
      setStatus(entry.badge, batch.status);
      setText(entry.counts, treeCounts(batch, view.progress?.[batch.batchId]?.percent));
    });
    for (const [batchId, entry] of treeEntries) {
      if (seen.has(batchId)) continue;
      entry.item.remove();
      treeEntries.delete(batchId);
    }
  }

  let failuresKey: string | undefined;
  // The readings come from the stream and from the reading after an action: one that began before the
  // action may arrive after it, and must not put back what the action changed.
  let newest = '';
  function apply(view: BatchView): void {
    if (view.readAt < newest) return;
    newest = view.readAt;
    const { batch, lineage } = view;
    setText(type, batch.batchType);
    setStatus(badge, batch.status);
    badge.hidden = false;
    errorMessage.hidden = !batch.errorMessage;
    setText(errorMessage, batch.errorMessage ?? '');

    const root = lineage.batches.find((b) => b.batchId === lineage.rootBatchId);
    const finished = lineage.completedFirstTime + lineage.resolved;
    setText(done, `Done: ${finished} of ${lineage.totalRows} rows`);
    progress.max = Math.max(lineage.totalRows, 1);
    progress.value = lineage.totalRows === 0 ? 1 : finished;
    setText(counts.get('Rows')!, String(lineage.totalRows));
    setText(counts.get('Completed')!, String(lineage.completedFirstTime));
    setText(counts.get('Failed')!, String(root?.failedItems ?? 0));
    setText(counts.get('Resolved')!, String(lineage.resolved));
    setText(counts.get('Unresolved')!, String(lineage.unresolved));

    const treeEnded = lineage.batches.every((b) => ENDED.includes(b.status));
    show(reprocess, treeEnded && lineage.unresolved + lineage.notProcessed > 0);
    for (const control of controls) show(control.element, control.when.includes(batch.status));
    buttons.hidden = [reprocess, ...controls.map((control) => control.element)].every(
      (element) => element.hidden,
    );
    showTree(view);

    // The failures change when a row is resolved or a batch of the tree changes status: read them then.
    columns = batch.sourceColumns;
    const key = [
      lineage.unresolved,
      ...lineage.batches.map((b) => `${b.batchId}:${b.status}`),
    ].join(' ');
    if (key !== failuresKey) {
      failuresKey = key;
      void failures.refresh(columns);
    }
  }

  // The batch at once; the stream only once it exists (a 404 or 400 is said once, in the alert).
  let stop: (() => void) | undefined;
  let closed = false;
  getJson<BatchView>(base).then(
    (view) => {
      if (closed) return;
      apply(view);
      stop = follow<BatchView>(`${base}/stream`, 'batch', apply);
    },
    (error: unknown) => showAlert(messageOf(error)),
  );
  return () => {
    closed = true;
    stop?.();
  };
}
