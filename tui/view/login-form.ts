import { LineEditor } from './line-editor.js';
import { COLOURS, bold, fg, inverse } from './style.js';
import { padToWidth, textWidth } from './text-width.js';
import { wrapText } from './wrap.js';

/**
 * The login form as state plus key handling, without blessed: server, user, password (shown
 * as stars), a "create a new account" choice, and a Connect button. Tab / Down / Up move
 * between fields, Space ticks the box, Enter connects (or goes to the first empty field).
 */

export interface LoginValues {
  server: string;
  user: string;
  password: string;
  register: boolean;
}

export type LoginField = 'server' | 'user' | 'password' | 'register' | 'connect';

const FIELDS: LoginField[] = ['server', 'user', 'password', 'register', 'connect'];

/** A key as blessed reports it (the subset used here). */
export interface KeyInfo {
  name?: string;
  full?: string;
  ctrl?: boolean;
  meta?: boolean;
  shift?: boolean;
  /** The bytes the terminal sent. */
  sequence?: string;
}

export type FormAction = 'submit' | 'quit' | null;

export class LoginForm {
  readonly server = new LineEditor();
  readonly user = new LineEditor();
  readonly password = new LineEditor();
  register: boolean;
  focus: LoginField;
  /** A problem to show (from the last attempt, or a missing field); local or sanitized text. */
  message: string | undefined;
  /** Shown while connecting; keys are ignored meanwhile. */
  busy: string | undefined;
  /** The SOCKS5 proxy set by --proxy or SECURECHAT_PROXY (without its password): shown, not edited here. */
  proxy: string | undefined;

  constructor(values: Partial<LoginValues>, message?: string) {
    this.server.set(values.server ?? '');
    this.user.set(values.user ?? '');
    this.password.set(values.password ?? '');
    this.register = values.register === true;
    this.message = message;
    this.focus = this.firstEmpty() ?? 'connect';
  }

  get values(): LoginValues {
    return { server: this.server.text.trim(), user: this.user.text.trim(), password: this.password.text, register: this.register };
  }

  private firstEmpty(): LoginField | undefined {
    if (this.server.text.trim() === '') return 'server';
    if (this.user.text.trim() === '') return 'user';
    if (this.password.text === '') return 'password';
    return undefined;
  }

  private editor(): LineEditor | undefined {
    switch (this.focus) {
      case 'server':
        return this.server;
      case 'user':
        return this.user;
      case 'password':
        return this.password;
      default:
        return undefined;
    }
  }

  private move(step: number): void {
    const i = FIELDS.indexOf(this.focus);
    this.focus = FIELDS[(i + step + FIELDS.length) % FIELDS.length];
  }

  /** Handles one key; returns 'submit' when the form is complete and Enter was pressed. */
  key(ch: string | undefined, key: KeyInfo): FormAction {
    const full = key.full ?? key.name ?? '';
    if (full === 'C-c') return 'quit';
    if (this.busy !== undefined) return null;
    switch (full) {
      case 'tab':
      case 'down':
        this.move(1);
        return null;
      case 'S-tab':
      case 'up':
        this.move(-1);
        return null;
      case 'enter':
      case 'linefeed': {
        const empty = this.firstEmpty();
        if (empty !== undefined) {
          this.focus = empty;
          this.message = `please fill in the ${empty === 'server' ? 'server' : empty === 'user' ? 'user name' : 'password'}`;
          return null;
        }
        return 'submit';
      }
    }
    if (this.focus === 'register' && (full === 'space' || ch === ' ' || ch === 'x')) {
      this.register = !this.register;
      return null;
    }
    const editor = this.editor();
    if (!editor) return null;
    switch (full) {
      case 'backspace':
        editor.backspace();
        return null;
      case 'delete':
        editor.deleteForward();
        return null;
      case 'left':
        editor.left();
        return null;
      case 'right':
        editor.right();
        return null;
      case 'home':
      case 'C-a':
        editor.home();
        return null;
      case 'end':
      case 'C-e':
        editor.end();
        return null;
      case 'C-u':
        editor.killToStart();
        return null;
      case 'C-w':
        editor.deleteWordBefore();
        return null;
    }
    if (ch !== undefined && !key.ctrl && !key.meta && ch.length > 0) editor.insert(ch);
    return null;
  }

  /** The form's rows for a page `width` x `height`, centred. `banner` rows go above it. */
  render(width: number, height: number, banner: readonly string[] = []): string[] {
    const formWidth = Math.min(60, Math.max(20, width - 4));
    const labelWidth = 11;
    const fieldWidth = Math.max(4, formWidth - labelWidth - 2);
    const left = ' '.repeat(Math.max(0, Math.floor((width - formWidth) / 2)));

    const textField = (field: LoginField, label: string, editor: LineEditor, mask: boolean): string => {
      const focused = this.focus === field;
      const marker = focused ? '>' : ' ';
      let shown: string;
      if (mask) {
        const stars = '*'.repeat(Math.min(editor.text.length > 0 ? Array.from(editor.text).length : 0, fieldWidth - 1));
        shown = focused ? stars + inverse(' ') + ' '.repeat(Math.max(0, fieldWidth - stars.length - 1)) : padToWidth(stars, fieldWidth);
      } else if (focused) {
        const w = editor.window(fieldWidth);
        const used = textWidth(w.before) + Math.max(1, textWidth(w.atCursor)) + textWidth(w.after);
        shown = w.before + inverse(w.atCursor) + w.after + ' '.repeat(Math.max(0, fieldWidth - used));
      } else {
        shown = padToWidth(editor.text, fieldWidth);
      }
      const labelText = padToWidth(`${marker} ${label}`, labelWidth);
      return left + (focused ? bold(labelText) : labelText) + '[' + fg(focused ? 255 : 250, shown) + ']';
    };

    const rows: string[] = [];
    rows.push(left + bold('securechat') + fg(COLOURS.system, ' — log in to a relay'));
    rows.push('');
    rows.push(textField('server', 'Server', this.server, false));
    if (this.proxy !== undefined) rows.push(left + padToWidth('  Proxy', labelWidth) + ' ' + fg(COLOURS.system, padToWidth(this.proxy, fieldWidth)));
    rows.push(textField('user', 'User', this.user, false));
    rows.push(textField('password', 'Password', this.password, true));
    const box = this.register ? '[x]' : '[ ]';
    const registerText = padToWidth(`${this.focus === 'register' ? '>' : ' '} ${box} create a new account (register)`, formWidth);
    rows.push(left + (this.focus === 'register' ? bold(registerText) : registerText));
    rows.push('');
    const button = '[ Connect ]';
    const buttonPad = ' '.repeat(Math.max(0, labelWidth));
    rows.push(left + buttonPad + (this.focus === 'connect' ? inverse(bold(button)) : button));
    rows.push('');
    const textColumns = Math.max(1, width - left.length);
    const wrapped = (text: string) => wrapText(text, textColumns, textColumns);
    if (this.busy !== undefined) rows.push(...wrapped(this.busy).map((row) => left + fg(COLOURS.warn, row)));
    else if (this.message !== undefined) rows.push(...wrapped(this.message).map((row) => left + fg(COLOURS.error, row)));
    else rows.push('');
    rows.push(left + fg(COLOURS.system, padToWidth('Tab/↑↓ move · Space ticks · Enter connects · Ctrl-C quits', textColumns)));

    const bannerRows = banner.flatMap((line) => wrapped(line).map((row) => left + fg(COLOURS.title, row)));
    const all = bannerRows.length > 0 ? [...bannerRows, '', ...rows] : rows;
    const top = Math.max(0, Math.floor((height - all.length) / 3));
    return [...Array(top).fill(''), ...all].slice(0, Math.max(0, height));
  }
}
