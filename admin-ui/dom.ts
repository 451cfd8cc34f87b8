/** What `h` takes as children: text is always set as text, never parsed as HTML. */
export type Child = Node | string | number | null | undefined | false;

/** Attributes and properties; `false`, `null` and `undefined` leave the attribute out. */
export type Attributes = Record<string, string | number | boolean | null | undefined>;

/**
 * Builds an element. Every string becomes a text node or an attribute value: row data is text typed by
 * strangers, so no path from it to `innerHTML` may exist.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children, skipping the empty ones. */
export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Sets an element's text when it differs, so that an update every second is no change at all. */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** A button that runs `action` on click (and so on Enter and Space). */
export function button(label: string, action: () => void, attributes: Attributes = {}) {
  const element = h('button', { type: 'button', ...attributes }, label);
  element.addEventListener('click', action);
  return element;
}
