/// <reference lib="dom" />
import type { Page } from 'playwright-core';

/** WCAG 2 AA for text (1.4.3): every size is held to the normal-text ratio, as the README says. */
export const TEXT_CONTRAST = 4.5;
/** WCAG 2 AA for the focus indicator, a non-text part of a control (1.4.11). */
export const FOCUS_CONTRAST = 3;

/** A visible control of the page, as the audit found it before walking it with Tab. */
interface Control {
  id: number;
  description: string;
}

/** Marks each visible control (inert ones left out) and says what it lacks: an accessible name. */
function surveyControls(): { controls: Control[]; findings: string[] } {
  const textOf = (ids: string) =>
    ids
      .split(/\s+/)
      .map((id) => document.getElementById(id)?.textContent ?? '')
      .join(' ')
      .trim();
  /** The accessible name by the sources this page may use, in the order of the accname spec. */
  const nameOf = (element: HTMLElement): string => {
    const labelledBy = element.getAttribute('aria-labelledby');
    if (labelledBy && textOf(labelledBy)) return textOf(labelledBy);
    const label = element.getAttribute('aria-label')?.trim();
    if (label) return label;
    const labels = (element as HTMLInputElement).labels;
    const fromLabels = labels ? Array.from(labels, (l) => l.textContent ?? '').join(' ') : '';
    if (fromLabels.trim()) return fromLabels.trim();
    if (element.tagName === 'BUTTON' || element.tagName === 'A') {
      const text = element.textContent?.trim();
      if (text) return text;
    }
    return element.title.trim();
  };

  // With a modal dialog open, the rest of the page is inert: only the dialog's controls count.
  const scope: ParentNode = document.querySelector('dialog:modal') ?? document;
  const candidates = scope.querySelectorAll<HTMLElement>(
    'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])',
  );
  const controls: Control[] = [];
  const findings: string[] = [];
  for (const element of candidates) {
    if (element.matches('input[type=hidden]') || !element.checkVisibility()) continue;
    const name = nameOf(element);
    const type = element.getAttribute('type');
    const description = `<${element.tagName.toLowerCase()}${type ? ` type=${type}` : ''}> "${name.slice(0, 50)}"`;
    if (!name) findings.push(`${description} has no accessible name`);
    if (element.matches(':disabled')) continue;
    const id = controls.length;
    element.dataset.auditControl = String(id);
    controls.push({ id, description });
  }
  return { controls, findings };
}

/**
 * The text of the page against its background: each visible element with text of its own (and each
 * input, select and textarea, whose value is its text), its computed colour over the background
 * composited from it up to the canvas, by WCAG's relative luminance. Disabled controls and text a
 * sighted user cannot see (hidden, clipped to a pixel) are left out.
 */
function auditContrast(minimum: number): { findings: string[]; checked: number } {
  type Rgba = [number, number, number, number];
  const parse = (color: string): Rgba | undefined => {
    const match = /^rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)(?:,? \/? ?([\d.]+))?\)$/.exec(color);
    if (!match) return undefined;
    return [Number(match[1]), Number(match[2]), Number(match[3]), Number(match[4] ?? 1)];
  };
  const over = (top: Rgba, bottom: Rgba): Rgba => [
    top[0] * top[3] + bottom[0] * (1 - top[3]),
    top[1] * top[3] + bottom[1] * (1 - top[3]),
    top[2] * top[3] + bottom[2] * (1 - top[3]),
    1,
  ];
  const luminance = ([r, g, b]: Rgba): number => {
    const channel = (value: number) => {
      const c = value / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const hex = (color: Rgba) =>
    '#' +
    color
      .slice(0, 3)
      .map((c) => Math.round(c).toString(16).padStart(2, '0'))
      .join('');
  const findings: string[] = [];
  let checked = 0;

  /** The background behind `element`: its own and its ancestors' colours over the white canvas. */
  const backgroundOf = (element: Element): Rgba | string => {
    const layers: Rgba[] = [];
    for (let node: Element | null = element; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== 'none') return `a background image on <${node.tagName}>`;
      const color = parse(style.backgroundColor);
      if (!color) return `an unread background colour ${style.backgroundColor}`;
      if (color[3] > 0) layers.push(color);
      if (color[3] === 1) break;
    }
    return layers.reduceRight<Rgba>((below, layer) => over(layer, below), [255, 255, 255, 1]);
  };

  const scope: ParentNode = document.querySelector('dialog:modal') ?? document.body;
  for (const element of scope.querySelectorAll<HTMLElement>('*')) {
    const isField = element.matches('input:not([type=hidden]), select, textarea');
    const ownText = Array.from(element.childNodes).some(
      (node) => node.nodeType === Node.TEXT_NODE && node.textContent!.trim() !== '',
    );
    if (!isField && !ownText) continue;
    if (element.closest('script, style, noscript, option, :disabled')) continue;
    if (!element.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;
    const style = getComputedStyle(element);
    const background = backgroundOf(element);
    const text = parse(style.color);
    const classes = element.className ? `.${element.className.split(' ').join('.')}` : '';
    const shownText = isField ? (element as HTMLInputElement).value : element.textContent;
    const what = `<${element.tagName.toLowerCase()}${classes}> "${shownText.trim().slice(0, 40)}"`;
    if (typeof background === 'string' || !text) {
      findings.push(
        `${what}: contrast not computed (${typeof background === 'string' ? background : `colour ${style.color}`})`,
      );
      continue;
    }
    checked++;
    const shown = over(text, background);
    const [light, dark] = [luminance(shown), luminance(background)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    if (ratio < minimum) {
      findings.push(
        `${what}: contrast ${ratio.toFixed(2)}:1 (${hex(shown)} on ${hex(background)}), below ${minimum}:1`,
      );
    }
  }
  return { findings, checked };
}

/**
 * The focus indicator of the focused control: an outline or a shadow that it does not show unfocused,
 * whose colour stands out from the background around it. Null when it has one; what is wrong otherwise.
 */
function auditFocusIndicator({
  unfocused,
  minimum,
}: {
  unfocused: { outline: string; boxShadow: string };
  minimum: number;
}): string | null {
  const element = document.activeElement as HTMLElement;
  const style = getComputedStyle(element);
  const outline =
    style.outlineStyle !== 'none' &&
    parseFloat(style.outlineWidth) >= 1 &&
    `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}` !== unfocused.outline;
  const shadow = style.boxShadow !== 'none' && style.boxShadow !== unfocused.boxShadow;
  if (!outline && !shadow) return 'shows no focus indicator (no outline or shadow of its own)';
  if (!outline) return null;
  // The outline is drawn around the control: against its parent's background.
  const channel = (value: number) => {
    const c = value / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const rgb = (color: string) =>
    /^rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)/.exec(color)?.slice(1, 4).map(Number);
  const luminance = (color: number[]) =>
    0.2126 * channel(color[0]) + 0.7152 * channel(color[1]) + 0.0722 * channel(color[2]);
  let background: number[] | undefined;
  for (let node = element.parentElement; node && !background; node = node.parentElement) {
    const color = getComputedStyle(node).backgroundColor;
    if (!/rgba\(.*,\s*0\)$/.test(color) && color !== 'transparent') background = rgb(color);
  }
  const ring = rgb(style.outlineColor);
  if (!ring) return `has an outline colour the audit cannot read: ${style.outlineColor}`;
  const [light, dark] = [luminance(ring), luminance(background ?? [255, 255, 255])].sort(
    (a, b) => b - a,
  );
  const ratio = (light + 0.05) / (dark + 0.05);
  return ratio >= minimum
    ? null
    : `has a focus outline of contrast ${ratio.toFixed(2)}:1 against its background, below ${minimum}:1`;
}

/**
 * Every visible control reached by Tab, each showing its focus: Tab is pressed from where the focus is
 * around the page (it wraps from the end to the start), at most twice the controls' number and a few
 * more, and each control that gets the focus is checked as it has it.
 */
async function auditTabOrder(page: Page, controls: Control[]): Promise<string[]> {
  const findings: string[] = [];
  // Unfocused first (Tab goes on from where the focus was), to tell an indicator from a plain outline.
  const unfocused = await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    return Array.from(document.querySelectorAll<HTMLElement>('[data-audit-control]'), (element) => {
      const style = getComputedStyle(element);
      return {
        id: Number(element.dataset.auditControl),
        outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
        boxShadow: style.boxShadow,
      };
    });
  });
  const reached = new Set<number>();
  for (let press = 0; press < controls.length * 2 + 5 && reached.size < controls.length; press++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => {
      const value = (document.activeElement as HTMLElement | null)?.dataset?.auditControl;
      return value === undefined ? null : Number(value);
    });
    if (id === null || reached.has(id)) continue;
    reached.add(id);
    const before = unfocused.find((style) => style.id === id)!;
    const problem = await page.evaluate(auditFocusIndicator, {
      unfocused: before,
      minimum: FOCUS_CONTRAST,
    });
    if (problem) findings.push(`${controls[id].description} ${problem}`);
  }
  for (const control of controls) {
    if (!reached.has(control.id)) findings.push(`${control.description} is not reached by Tab`);
  }
  return findings;
}

/** What an audit found, and how much it looked at (an audit that saw nothing passes nothing). */
export interface AccessibilityAudit {
  /** One line per failure: empty when the page passes. */
  findings: string[];
  /** The text elements whose contrast was computed. */
  texts: number;
  /** The controls walked with Tab. */
  controls: number;
}

/**
 * Audits what the page shows now (in a modal dialog, only the dialog): text contrast, accessible names
 * of the controls, and each control reached by Tab with a visible focus indicator. Moves the focus; it
 * clicks nothing.
 */
export async function auditAccessibility(page: Page): Promise<AccessibilityAudit> {
  const contrast = await page.evaluate(auditContrast, TEXT_CONTRAST);
  const { controls, findings: names } = await page.evaluate(surveyControls);
  try {
    const focus = await auditTabOrder(page, controls);
    return {
      findings: [...contrast.findings, ...names, ...focus],
      texts: contrast.checked,
      controls: controls.length,
    };
  } finally {
    await page.evaluate(() => {
      for (const element of document.querySelectorAll<HTMLElement>('[data-audit-control]')) {
        delete element.dataset.auditControl;
      }
    });
  }
}
