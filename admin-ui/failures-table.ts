import { getJson, messageOf, sendJson } from './api.js';
import { button, h, setText } from './dom.js';
import { formatDate } from './format.js';
import { showAlert, showStatus } from './notify.js';
import type { FailedRow, LogEntry } from './types.js';

/** The failures shown at once; a tree with more is corrected with the file. */
const SHOWN = 500;

/** A data cell: the input and the value it was filled with, to send only what the operator changed. */
interface Cell {
  input: HTMLInputElement;
  original: unknown;
}

/** A failed row on screen, kept between refreshes so that unsaved edits and the focus survive them. */
interface RowView {
  row: HTMLTableRowElement;
  logsRow: HTMLTableRowElement;
  reason: HTMLTableCellElement;
  marker: HTMLSpanElement;
  cells: Map<string, Cell>;
}

/** How a value stands in an input: objects as JSON, nothing as empty. */
function display(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}

/** The edited text as the value's own type when it still reads as one: a number stays a number. */
function parse(text: string, original: unknown): unknown {
  if (typeof original === 'number' && text.trim() !== '' && Number.isFinite(Number(text))) {
    return Number(text);
  }
  if (typeof original === 'boolean' && (text === 'true' || text === 'false'))
    return text === 'true';
  if (typeof original === 'object' && original !== null) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * The columns: the source's own order (its CSV header), then any other field the rows carry (JSON
 * lines differ from row to row).
 */
function fieldsOf(columns: string[] | null, failures: FailedRow[]): string[] {
  const fields = [...(columns ?? [])];
  for (const failure of failures) {
    for (const key of Object.keys(failure.data)) if (!fields.includes(key)) fields.push(key);
  }
  return fields;
}

/** Whether a reason names the field as a word ("email" in `email "x" is malformed`, not in "emails"). */
function names(reasons: string, field: string): boolean {
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return field !== '' && new RegExp(`(^|\\W)${escaped}(\\W|$)`).test(reasons);
}

function reasonContent(failure: FailedRow): Node[] {
  const nodes: Node[] = [h('ul', {}, ...failure.reasons.map((reason) => h('li', {}, reason)))];
  if (failure.errorCode) nodes.push(h('span', { class: 'code' }, failure.errorCode));
  if (failure.rawLine !== null) nodes.push(h('code', { class: 'raw-line' }, failure.rawLine));
  return nodes;
}

/**
 * The failed rows of a batch's tree as a table: the reason beside the data, each cell editable, a row
 * saved as a merge correction of its changed fields, and the row's log on demand.
 */
export class FailuresTable {
  readonly element: HTMLElement;
  private readonly head = h('thead');
  private readonly body = h('tbody');
  private readonly note = h('p', { class: 'note' });
  private readonly rows = new Map<string, RowView>();
  private fields: string[] = [];

  constructor(private readonly batchId: string) {
    this.element = h(
      'section',
      { class: 'failures' },
      h(
        'div',
        { class: 'table-scroll' },
        h('table', {}, h('caption', {}, 'Failed rows'), this.head, this.body),
      ),
      this.note,
    );
  }

  /** Reads the unresolved failures again; a row that is still the same copy keeps its inputs. */
  async refresh(columns: string[] | null): Promise<void> {
    let failures: FailedRow[];
    try {
      failures = await getJson<FailedRow[]>(
        `batches/${encodeURIComponent(this.batchId)}/failures?limit=${SHOWN}`,
      );
    } catch (error) {
      showAlert(messageOf(error));
      return;
    }
    const fields = fieldsOf(columns, failures);
    if (fields.join('\n') !== this.fields.join('\n')) {
      this.fields = fields;
      this.head.replaceChildren(
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Line'),
          h('th', { scope: 'col' }, 'Reason'),
          ...fields.map((field) => h('th', { scope: 'col' }, field)),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
        ),
      );
      this.rows.clear();
      this.body.replaceChildren();
    }
    this.show(failures);
  }

  private show(failures: FailedRow[]): void {
    const seen = new Set<string>();
    let position = 0;
    for (const failure of failures) {
      seen.add(failure.itemId);
      let view = this.rows.get(failure.itemId);
      if (!view) {
        view = this.newRow(failure);
        this.rows.set(failure.itemId, view);
      }
      view.reason.replaceChildren(...reasonContent(failure));
      this.takeNewData(view, failure);
      view.marker.hidden = !failure.corrected;
      // Moved only when out of place: moving a row takes the focus out of its input.
      for (const row of [view.row, view.logsRow]) {
        if (this.body.children[position] !== row) {
          this.body.insertBefore(row, this.body.children[position] ?? null);
        }
        position += 1;
      }
    }
    for (const [itemId, view] of this.rows) {
      if (seen.has(itemId)) continue;
      view.row.remove();
      view.logsRow.remove();
      this.rows.delete(itemId);
    }
    // An empty table keeps its caption (it is where the rows will come) but not its column heads.
    this.head.hidden = failures.length === 0;
    setText(
      this.note,
      failures.length === 0
        ? 'No failed rows.'
        : failures.length === SHOWN
          ? `The first ${SHOWN} failed rows: download the failures to correct the others.`
          : '',
    );
  }

  /**
   * Shows the row's data as it now stands (a corrections file changed it), in the cells the operator
   * has not edited: an unsaved edit is theirs to save or undo.
   */
  private takeNewData(view: RowView, failure: FailedRow): void {
    for (const [field, cell] of view.cells) {
      const value = failure.data[field];
      if (
        cell.input.value !== display(cell.original) ||
        display(value) === display(cell.original)
      ) {
        continue;
      }
      cell.original = value;
      cell.input.value = display(value);
    }
  }

  private newRow(failure: FailedRow): RowView {
    const line = failure.line ?? failure.itemIndex + 1;
    const cells = new Map<string, Cell>();
    const reasonsText = failure.reasons.join(' ');
    const inputs = this.fields.map((field) => {
      const original = failure.data[field];
      const input = h('input', {
        type: 'text',
        'aria-label': `${field} of line ${line}`,
        value: display(original),
        // A reason that names the field marks it: the cell to look at first.
        'aria-invalid': names(reasonsText, field) ? 'true' : undefined,
      });
      cells.set(field, { input, original });
      return h('td', {}, input);
    });

    const logsId = `logs-${failure.itemId}`;
    const logs = h('div', { id: logsId, role: 'region', 'aria-label': `Logs of line ${line}` });
    const logsRow = h(
      'tr',
      { class: 'logs-row', hidden: true },
      h('td', { colspan: this.fields.length + 3 }, logs),
    );
    const logsButton = button(
      `Logs of line ${line}`,
      () => {
        const open = logsRow.hidden;
        logsRow.hidden = !open;
        logsButton.setAttribute('aria-expanded', String(open));
        if (open) void this.loadLogs(failure, logs);
      },
      { 'aria-expanded': 'false', 'aria-controls': logsId, class: 'secondary' },
    );
    const marker = h('span', { class: 'corrected', hidden: true }, 'corrected');
    const reason = h('td', { class: 'reason' });
    const row = h(
      'tr',
      {},
      h('th', { scope: 'row', class: 'number' }, String(line), ' ', marker),
      reason,
      ...inputs,
      h(
        'td',
        { class: 'row-actions' },
        button(`Save line ${line}`, () => void this.save(failure.itemId, line, cells, marker)),
        logsButton,
      ),
    );
    return { row, logsRow, reason, marker, cells };
  }

  /** A merge correction of the fields the operator changed, and no other: a stale copy is not sent. */
  private async save(
    itemId: string,
    line: number,
    cells: Map<string, Cell>,
    marker: HTMLElement,
  ): Promise<void> {
    const data: Record<string, unknown> = {};
    for (const [field, cell] of cells) {
      if (cell.input.value !== display(cell.original)) {
        data[field] = parse(cell.input.value, cell.original);
      }
    }
    if (Object.keys(data).length === 0) {
      showStatus(`Nothing changed on line ${line}`);
      return;
    }
    try {
      await sendJson('PATCH', `items/${encodeURIComponent(itemId)}`, { data, mode: 'merge' });
    } catch (error) {
      showAlert(messageOf(error));
      return;
    }
    for (const [field, value] of Object.entries(data)) {
      const cell = cells.get(field);
      if (cell) cell.original = value;
    }
    marker.hidden = false;
    showStatus(`Saved line ${line}`);
  }

  private async loadLogs(failure: FailedRow, region: HTMLElement): Promise<void> {
    setText(region, 'Loading…');
    try {
      const entries = await getJson<LogEntry[]>(
        `batches/${encodeURIComponent(failure.batchId)}/logs?itemId=${encodeURIComponent(failure.itemId)}`,
      );
      region.replaceChildren(
        entries.length === 0
          ? h('p', {}, 'No log entries for this row.')
          : h(
              'ol',
              { class: 'logs' },
              ...entries.map((entry) =>
                h(
                  'li',
                  {},
                  h('time', { datetime: entry.createdAt }, formatDate(entry.createdAt)),
                  ' ',
                  h('span', { class: 'level', 'data-level': entry.level }, entry.level),
                  ' ',
                  entry.message,
                ),
              ),
            ),
      );
    } catch (error) {
      setText(region, '');
      showAlert(messageOf(error));
    }
  }
}
