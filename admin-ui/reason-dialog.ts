import { button, h } from './dom.js';

/** What the dialog asks: an action that ends a batch for good. */
export interface ReasonDialogText {
  title: string;
  text: string;
  confirm: string;
}

/** The longest reason the API takes (`ReasonBody`). */
const REASON_LIMIT = 2000;

let count = 0;

/**
 * Asks before an action that cannot be undone, with an optional reason. The browser's own modal
 * `<dialog>`: it keeps the focus inside and the rest of the page inert, and Escape backs out; the focus
 * goes to the reason when it opens, and back to the button that opened it when it closes.
 */
export class ReasonDialog {
  readonly element: HTMLDialogElement;
  private readonly reason: HTMLTextAreaElement;
  private opener: HTMLElement | undefined;
  private answer: ((reason: string | null) => void) | undefined;

  constructor({ title, text, confirm }: ReasonDialogText) {
    const id = `reason-dialog-${++count}`;
    this.reason = h('textarea', {
      id: `${id}-reason`,
      name: 'reason',
      rows: 3,
      maxlength: REASON_LIMIT,
      'aria-describedby': `${id}-hint`,
    });
    const form = h(
      'form',
      {},
      h('h2', { id: `${id}-title` }, title),
      h('p', { id: `${id}-text` }, text),
      h(
        'div',
        { class: 'field' },
        h('label', { for: `${id}-reason` }, 'Reason (optional)'),
        this.reason,
        h('span', { id: `${id}-hint`, class: 'note' }, 'Stored with the batch and in its log.'),
      ),
      h(
        'div',
        { class: 'toolbar dialog-buttons' },
        button('Go back', () => this.finish(null), { class: 'secondary' }),
        h('button', { type: 'submit', class: 'danger' }, confirm),
      ),
    );
    this.element = h(
      'dialog',
      { 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-text` },
      form,
    );
    // Handled here rather than by `method="dialog"`: the answer is the reason, not a button's value.
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.finish(this.reason.value.trim());
    });
    // Escape is a "no", answered here: the `close` event that follows comes later, as a task of its
    // own, and may come after the dialog was opened again (a quick Escape, then the button again).
    this.element.addEventListener('cancel', (event) => {
      event.preventDefault();
      this.finish(null);
    });
    // Any other way it is closed is a "no" too; a late event of an earlier close is not.
    this.element.addEventListener('close', () => {
      if (!this.element.open) this.finish(null);
    });
  }

  /** Opens the dialog; resolves with the reason ('' for none) once confirmed, or null when backed out. */
  ask(): Promise<string | null> {
    this.answer?.(null);
    this.opener =
      document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    this.reason.value = '';
    this.element.showModal();
    this.reason.focus();
    return new Promise((resolve) => (this.answer = resolve));
  }

  private finish(reason: string | null): void {
    const answer = this.answer;
    if (!answer) return;
    this.answer = undefined;
    if (this.element.open) this.element.close();
    // Where the operator was; the page moves the focus on if the action hides that button.
    if (this.opener?.isConnected && !this.opener.closest('[hidden]')) this.opener.focus();
    answer(reason);
  }
}
