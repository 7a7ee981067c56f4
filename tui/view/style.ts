/**
 * The only escape sequences the TUI ever puts into widget content: SGR attributes around text
 * that is already sanitized (so it holds no ESC of its own). Widgets are created with
 * `tags: false`, and blessed turns these SGR codes into cell attributes. Only codes blessed's
 * attribute parser knows are used (bold, underline, inverse, 256-colour fg/bg); nesting the
 * same attribute is avoided because the closing code resets it outright.
 */
const CSI = '\x1b[';

export function fg(colour: number, text: string): string {
  return `${CSI}38;5;${colour}m${text}${CSI}39m`;
}

export function bg(colour: number, text: string): string {
  return `${CSI}48;5;${colour}m${text}${CSI}49m`;
}

export function bold(text: string): string {
  return `${CSI}1m${text}${CSI}22m`;
}

export function underline(text: string): string {
  return `${CSI}4m${text}${CSI}24m`;
}

export function inverse(text: string): string {
  return `${CSI}7m${text}${CSI}27m`;
}

/** Removes the SGR codes this module adds (tests, width checks). */
export function unstyle(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}

/** Colours the TUI uses for itself (xterm-256 indexes). */
export const COLOURS = {
  system: 244, // grey
  error: 196, // red
  join: 71, // green
  leave: 244,
  whisper: 170, // magenta
  highlight: 220, // yellow
  pending: 242,
  status: 252,
  statusBg: 236,
  ok: 71,
  warn: 214,
  bad: 196,
  border: 240,
  title: 250,
  alert: 231, // white text on
  alertBg: 124, // dark red: the key-change advisory bar
} as const;
