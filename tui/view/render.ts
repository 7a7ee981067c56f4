import { nameKey } from '../../shared/names.js';
import { nickColour } from '../nick-colour.js';
import type { ConnectionStatus, PendingLine, RoomBuffer, RoomEntry, ScrollAnchor, ViewLine, ViewModel } from './state.js';
import { COLOURS, bg, bold, fg, inverse, underline } from './style.js';
import { fitWidth, padToWidth, textWidth } from './text-width.js';
import { formatRoomFileJob, roomFileJobLine } from './room-files-format.js';
import { formatTransferLine, progressRow, type TransferLine } from './transfer-format.js';
import { wrapText } from './wrap.js';

/**
 * Turns the view state into the text of each pane, for a given terminal size. Pure apart from
 * a cache of wrapped lines; every string it receives from the state is sanitized already, and
 * the only escapes it adds are SGR attributes from style.ts. Each returned row fits its pane's
 * width exactly (blessed is never left to wrap or clip), which keeps the layout in place with
 * wide characters and on resize.
 */

// ---- layout -------------------------------------------------------------------------------

export interface Layout {
  cols: number;
  rows: number;
  /** 0 when hidden (narrow terminals). */
  roomsWidth: number;
  usersWidth: number;
  messagesLeft: number;
  messagesWidth: number;
  /** Rows for the three panes (everything above the advisory bar, the status bar and input line). */
  paneHeight: number;
  /** The advisory bar's row (a key change waiting for /trust), or -1 when none is shown. */
  advisoryRow: number;
  /** The transfers panel's first row and its height (0 and -1 when no transfer runs). */
  transfersRow: number;
  transfersHeight: number;
  statusRow: number;
  inputRow: number;
}

function clamp(value: number, low: number, high: number): number {
  return Math.max(low, Math.min(high, value));
}

/**
 * Pane geometry: side panes shrink with the terminal and are hidden below 60 / 72 columns.
 * With `advisory`, one row above the status bar is kept for the advisory bar (not below 6 rows).
 */
export function computeLayout(cols: number, rows: number, advisory = false, transferRows = 0): Layout {
  const c = Math.max(10, Math.floor(cols));
  const r = Math.max(4, Math.floor(rows));
  const advisoryRows = advisory && r >= 6 ? 1 : 0;
  // The transfers panel never takes more than a third of what is left for the panes.
  const panelRows = Math.max(0, Math.min(Math.floor(transferRows), Math.floor((r - 2 - advisoryRows) / 3)));
  const roomsWidth = c >= 60 ? clamp(Math.floor(c * 0.16), 12, 22) : 0;
  const usersWidth = c >= 72 ? clamp(Math.floor(c * 0.16), 12, 22) : 0;
  // One column of separator after the rooms pane and before the users pane.
  const messagesLeft = roomsWidth > 0 ? roomsWidth + 1 : 0;
  const messagesWidth = c - messagesLeft - (usersWidth > 0 ? usersWidth + 1 : 0);
  const paneHeight = r - 2 - advisoryRows - panelRows;
  return {
    cols: c,
    rows: r,
    roomsWidth,
    usersWidth,
    messagesLeft,
    messagesWidth,
    paneHeight,
    advisoryRow: advisoryRows > 0 ? r - 3 : -1,
    transfersRow: panelRows > 0 ? paneHeight : -1,
    transfersHeight: panelRows,
    statusRow: r - 2,
    inputRow: r - 1,
  };
}

// ---- message rows -------------------------------------------------------------------------

/** One screen row of the message pane. */
export interface MessageRow {
  /** The ViewLine it belongs to, or -1 for pending lines (never an anchor). */
  lineId: number;
  /** Which wrapped row of that line (0 = first). */
  offset: number;
  text: string;
}

/** `HH:MM` in local time. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

interface Prefix {
  plain: string;
  styled: string;
}

/** Marks a whisper as end-to-end encrypted (two columns wide everywhere, like other emoji). */
export const LOCK = '\u{1F512}';
/** Added to the lock when the other user's key is verified. */
export const TICK = '\u2713';

function prefixFor(line: ViewLine): Prefix {
  const time = formatClock(line.time) + ' ';
  const nick = line.nick ?? '';
  const colour = nickColour(nick);
  switch (line.kind) {
    case 'message': {
      let styledNick = fg(colour, nick);
      if (line.own) styledNick = bold(styledNick);
      if (line.highlight) styledNick = inverse(styledNick);
      if (line.action) return { plain: `${time}* ${nick} `, styled: fg(COLOURS.system, time) + '* ' + styledNick + ' ' };
      return { plain: `${time}<${nick}> `, styled: fg(COLOURS.system, time) + '<' + styledNick + '> ' };
    }
    case 'whisper': {
      // Every whisper is end-to-end encrypted (the lock); a tick once the key was verified (/trust).
      const lock = line.verified ? `${LOCK}${TICK} ` : `${LOCK} `;
      const styledLock = line.verified ? fg(COLOURS.ok, lock) : fg(COLOURS.system, lock);
      if (line.own) {
        const plain = `${lock}-> *${nick}* `;
        return { plain: time + plain, styled: fg(COLOURS.system, time) + styledLock + fg(COLOURS.whisper, '-> *') + fg(colour, nick) + fg(COLOURS.whisper, '* ') };
      }
      const plain = `${lock}*${nick}* `;
      return { plain: time + plain, styled: fg(COLOURS.system, time) + styledLock + inverse(bold(fg(COLOURS.whisper, `*${nick}*`))) + ' ' };
    }
    case 'presence': {
      const joined = line.text.endsWith(' joined');
      const arrow = joined ? '--> ' : '<-- ';
      return { plain: time + arrow, styled: fg(COLOURS.system, time) + fg(joined ? COLOURS.join : COLOURS.leave, arrow) };
    }
    case 'error':
      return { plain: time + '-!- ', styled: fg(COLOURS.system, time) + bold(fg(COLOURS.error, '-!- ')) };
    case 'system':
      return { plain: time + '-!- ', styled: fg(COLOURS.system, time) + fg(COLOURS.system, '-!- ') };
  }
}

function styleText(line: ViewLine, text: string): string {
  switch (line.kind) {
    case 'error':
      return fg(COLOURS.error, text);
    case 'system':
    case 'presence':
      return fg(COLOURS.system, text);
    case 'whisper':
      return line.own ? fg(COLOURS.system, text) : bold(text);
    case 'message':
      return line.highlight ? bold(fg(COLOURS.highlight, text)) : text;
  }
}

/** Wraps text under a prefix: the first row after it, the others indented under the text (or less, if the prefix is wide). */
function wrapUnder(prefix: Prefix, text: string, width: number): string[] {
  const prefixWidth = textWidth(prefix.plain);
  const indent = prefixWidth <= Math.floor(width / 2) ? prefixWidth : Math.min(6, Math.max(0, width - 1));
  if (prefixWidth >= width) {
    // Narrower than the prefix: the prefix gets its own (cut) row.
    return [fitWidth(prefix.plain, width).text, ...text.split('\n').flatMap((part) => wrapText(part, width, width))];
  }
  const rows: string[] = [];
  const parts = text.split('\n');
  parts.forEach((part, index) => {
    const first = index === 0 ? width - prefixWidth : width - indent;
    const wrapped = wrapText(part, first, width - indent);
    wrapped.forEach((row, i) => {
      if (index === 0 && i === 0) rows.push(prefix.styled + row);
      else rows.push(' '.repeat(indent) + row);
    });
  });
  return rows;
}

const rowCache = new WeakMap<ViewLine, { width: number; rows: string[] }>();

/** The screen rows of one line at `width` columns (cached per line and width). */
export function rowsOfLine(line: ViewLine, width: number): string[] {
  const cached = rowCache.get(line);
  if (cached && cached.width === width) return cached.rows;
  const prefix = prefixFor(line);
  const rows = wrapUnder(prefix, line.text, width).map((row, i) => {
    // Style the text part only (the prefix is styled already).
    if (i === 0 && row.startsWith(prefix.styled)) return prefix.styled + styleText(line, row.slice(prefix.styled.length));
    return styleText(line, row);
  });
  rowCache.set(line, { width, rows });
  return rows;
}

function pendingRows(pending: PendingLine, nick: string, width: number): string[] {
  const prefix: Prefix = { plain: `${formatClock(pending.time)} <${nick}> `, styled: '' };
  prefix.styled = prefix.plain;
  return wrapUnder(prefix, pending.text + ' (sending…)', width).map((row) => fg(COLOURS.pending, row));
}

/** The local calendar day of `ms`, as 'YYYY-MM-DD' (to compare). */
function localDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** `--- Tue 1 Dec 2026 ---`, in local time: the row that dates the lines after it. */
export function dayRow(ms: number): string {
  const d = new Date(ms);
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()];
  return `--- ${weekday} ${d.getDate()} ${month} ${d.getFullYear()} ---`;
}

/**
 * Every row of a room at `width`: its lines, then own messages still waiting for the relay.
 * Lines carry only a clock time, so a day row dates them where the day changes, and before
 * the first line when that is not from today (`now`; without it, only changes are marked).
 */
export function messageRows(buffer: RoomBuffer, pending: readonly PendingLine[], ownNick: string, width: number, now?: number): MessageRow[] {
  const rows: MessageRow[] = [];
  let previousDay = now === undefined ? undefined : localDay(now);
  for (const line of buffer.lines) {
    const day = localDay(line.time);
    // Offset -1: the day row goes with the line after it, so a scroll anchor on it stays valid.
    if (previousDay !== undefined && day !== previousDay) rows.push({ lineId: line.id, offset: -1, text: fg(COLOURS.system, dayRow(line.time).slice(0, width)) });
    previousDay = day;
    rowsOfLine(line, width).forEach((text, offset) => rows.push({ lineId: line.id, offset, text }));
  }
  for (const p of pending) pendingRows(p, ownNick, width).forEach((text, offset) => rows.push({ lineId: -1, offset, text }));
  return rows;
}

/** Index of the anchor's row, or -1 when the anchor no longer exists. */
function anchorIndex(rows: readonly MessageRow[], anchor: ScrollAnchor): number {
  let lastOfLine = -1;
  for (let i = 0; i < rows.length; i += 1) {
    if (rows[i].lineId !== anchor.lineId) continue;
    if (rows[i].offset === anchor.offset) return i;
    lastOfLine = i;
  }
  // After a resize a line may have fewer rows than the anchor's offset: use its last.
  return lastOfLine;
}

function anchorAt(rows: readonly MessageRow[], index: number): ScrollAnchor | null {
  // Pending rows are never anchors; they are always at the bottom anyway.
  for (let i = index; i >= 0; i -= 1) if (rows[i].lineId >= 0) return { lineId: rows[i].lineId, offset: rows[i].offset };
  return null;
}

export interface Viewport {
  /** Index of the first row shown. */
  top: number;
  /** Rows hidden below the view. */
  below: number;
  /** The anchor to keep (null: at the bottom, following new lines). */
  anchor: ScrollAnchor | null;
}

/** Where the view is, for an anchor (null = the newest rows). */
export function viewport(rows: readonly MessageRow[], anchor: ScrollAnchor | null, height: number): Viewport {
  const bottomTop = Math.max(0, rows.length - height);
  if (anchor === null) return { top: bottomTop, below: 0, anchor: null };
  let top = anchorIndex(rows, anchor);
  if (top < 0) top = 0;
  if (top >= bottomTop) return { top: bottomTop, below: 0, anchor: null };
  return { top, below: rows.length - (top + height), anchor };
}

/**
 * Scrolls by `delta` rows (negative: back in time) and returns the new anchor; reaching the
 * bottom returns null (follow new lines again).
 */
export function scrollBy(rows: readonly MessageRow[], anchor: ScrollAnchor | null, height: number, delta: number): ScrollAnchor | null {
  const view = viewport(rows, anchor, height);
  const bottomTop = Math.max(0, rows.length - height);
  const top = clamp(view.top + delta, 0, bottomTop);
  if (top >= bottomTop) return null;
  return anchorAt(rows, top);
}

/** The message pane: exactly `height` rows, each padded to `width`. */
export function renderMessages(model: ViewModel, width: number, height: number): { rows: string[]; view: Viewport; all: MessageRow[] } {
  const buffer = model.current;
  const all = messageRows(buffer, model.pending, model.user, width, model.currentTime());
  const view = viewport(all, buffer.anchor, height);
  const shown = all.slice(view.top, view.top + height).map((r) => r.text);
  if (view.below > 0 && shown.length > 0) {
    const news = buffer.unread > 0 ? `, ${buffer.unread} new` : '';
    shown[shown.length - 1] = inverse(padToWidth(` -- ${view.below} more ${view.below === 1 ? 'line' : 'lines'} below${news} (PgDn) --`, width));
  }
  while (shown.length < height) shown.unshift('');
  return { rows: shown, view, all };
}

// ---- side panes ---------------------------------------------------------------------------

function title(text: string, width: number): string {
  return bold(underline(padToWidth(text, width)));
}

/**
 * The rooms pane: `height` rows of `width` columns. The number after a room is its unread
 * messages and whispers, `[3]`; a room whose unread ones include a mention of your name or a
 * whisper is the hotlist's highlight, as in WeeChat: magenta, and `[3!]`. The current room is
 * marked `>` and bold.
 */
export function renderRooms(entries: readonly RoomEntry[], width: number, height: number): string[] {
  if (width <= 0 || height <= 0) return [];
  const rows = [title('Rooms', width)];
  const room = height - 1;
  const shown = entries.length > room ? entries.slice(0, Math.max(0, room - 1)) : entries;
  for (const entry of shown) {
    const mark = entry.current ? '>' : ' ';
    const hot = entry.highlights > 0;
    const counts = entry.unread > 0 ? ` [${entry.unread}${hot ? '!' : ''}]` : '';
    const nameColumns = Math.max(1, width - 1 - textWidth(counts));
    const fitted = padToWidth(mark + padToWidth(entry.name, nameColumns) + counts, width);
    if (hot) rows.push(bold(fg(COLOURS.whisper, fitted)));
    else if (entry.current || entry.unread > 0) rows.push(bold(fitted));
    else rows.push(fitted);
  }
  if (shown.length < entries.length) rows.push(fg(COLOURS.system, padToWidth(`+${entries.length - shown.length} more`, width)));
  return rows;
}

/** Marks an away user (/away) in the users pane, after the name; the name is grey too, as WeeChat greys away nicks. */
export const AWAY_MARK = ' (away)';

/** The users pane: `height` rows of `width` columns; our own nick in bold, away users grey and marked. */
export function renderUsers(users: readonly string[], ownNick: string, width: number, height: number, away: ReadonlyMap<string, string> = new Map()): string[] {
  if (width <= 0 || height <= 0) return [];
  const rows = [title(`Users (${users.length})`, width)];
  const room = height - 1;
  const shown = users.length > room ? users.slice(0, Math.max(0, room - 1)) : users;
  for (const user of shown) {
    const isAway = away.has(nameKey(user));
    // The mark always shows; a name too long for the rest is cut.
    const label = isAway ? fitWidth(user, Math.max(1, width - textWidth(AWAY_MARK))).text + AWAY_MARK : user;
    const text = fg(isAway ? COLOURS.system : nickColour(user), padToWidth(label, width));
    rows.push(nameKey(user) === nameKey(ownNick) ? bold(text) : text);
  }
  if (shown.length < users.length) rows.push(fg(COLOURS.system, padToWidth(`+${users.length - shown.length} more`, width)));
  return rows;
}

// ---- advisory bar -------------------------------------------------------------------------

/**
 * The advisory bar: the newest key change waiting for /trust, and what to do, on a warning
 * background across the full width. Empty when there is none.
 */
export function renderAdvisory(model: ViewModel, width: number): string {
  const advisory = model.advisories.at(-1);
  if (!advisory) return '';
  const more = model.advisories.length > 1 ? ` (+${model.advisories.length - 1} more)` : '';
  // What to do first, so it survives a narrow terminal; the fingerprints are in the message pane too.
  const text =
    ` !! KEY CHANGED for ${advisory.user}: /verify ${advisory.user}, then /trust ${advisory.user} (Esc hides)${more}. ` +
    `Old key ${advisory.oldFingerprint}, new key ${advisory.newFingerprint} `;
  return bg(COLOURS.alertBg, bold(fg(COLOURS.alert, padToWidth(text, width))));
}

// ---- status bar ---------------------------------------------------------------------------

/** `sha256:3f1a9c0b` — enough to compare at a glance; the full one is in the connect line. */
export function shortFingerprint(fingerprint: string | null): string {
  if (!fingerprint) return '-';
  const hex = fingerprint.replace(/^sha256:/, '');
  return `sha256:${hex.slice(0, 8)}`;
}

export function connectionLabel(status: ConnectionStatus, now: number): string {
  switch (status.phase) {
    case 'connecting':
      return 'connecting…';
    case 'online':
      return 'connected';
    case 'reconnecting': {
      if (status.reconnectAt === undefined) return 'reconnecting…';
      const seconds = Math.max(0, Math.ceil((status.reconnectAt - now) / 1000));
      const attempt = status.attempt !== undefined ? ` (attempt ${status.attempt})` : '';
      return seconds > 0 ? `reconnecting in ${seconds}s${attempt}` : `reconnecting now${attempt}`;
    }
    case 'offline':
      return 'offline';
  }
}

function formatRtt(ms: number | null): string {
  if (ms === null) return 'rtt -';
  return ms < 10 ? `rtt ${ms.toFixed(1)}ms` : `rtt ${Math.round(ms)}ms`;
}

/** The status bar: connection, user@room, relay, short fingerprint, round trip; cut to `width`. */
export function renderStatus(model: ViewModel, width: number, now: number): string {
  const status = model.status;
  const label = connectionLabel(status, now);
  const colour = status.phase === 'online' ? COLOURS.ok : status.phase === 'offline' ? COLOURS.bad : COLOURS.warn;
  const parts = [`${status.user}@${model.current.name}`, status.server, shortFingerprint(status.fingerprint), formatRtt(status.rttMs)];
  // Running file transfers and room file uploads/downloads: the newest one in full, and how many more.
  const running = [...[...model.files.transfers.values()].map(formatTransferLine), ...[...model.files.roomFileJobs.values()].map(formatRoomFileJob)];
  if (running.length > 0) {
    const more = running.length > 1 ? ` (+${running.length - 1})` : '';
    parts.push(running[running.length - 1] + more);
  }
  const plainRest = ' │ ' + parts.join(' │ ');
  const labelText = `[${label}]`;
  const restWidth = Math.max(0, width - textWidth(labelText) - 1);
  return ' ' + bold(fg(colour, labelText)) + fg(COLOURS.status, padToWidth(plainRest, restWidth));
}

// ---- transfers panel ----------------------------------------------------------------------

/** At most this many transfers get a row of their own; the last row then says how many more. */
export const TRANSFER_PANEL_MAX_ROWS = 4;
const BAR_COLUMNS = 22;

/** Everything running that the panel shows: transfers between users (folders first), then room files. */
function runningTransfers(model: ViewModel): TransferLine[] {
  return [...model.files.transfers.values(), ...[...model.files.roomFileJobs.values()].map(roomFileJobLine)];
}

/** Rows the transfers panel wants (0: hidden). */
export function transferPanelRows(model: ViewModel): number {
  return Math.min(TRANSFER_PANEL_MAX_ROWS, runningTransfers(model).length);
}

/**
 * The transfers panel: one row per running transfer with its progress bar, percent, bytes,
 * speed, time left and path (`↑ to bob: big.bin [#####.....]  45%  1.4 MB/3.0 MB  2.1 MB/s
 * ETA 1s  relay`), the name cut to fit; beyond `rows`, the last row says how many more.
 */
export function renderTransfers(model: ViewModel, width: number, rows: number): string[] {
  if (rows <= 0 || width <= 0) return [];
  const all = runningTransfers(model);
  const shown = all.length > rows ? all.slice(0, rows - 1) : all;
  const bar = Math.max(5, Math.min(BAR_COLUMNS, Math.floor(width / 5)));
  const out = shown.map((t) => {
    const { head, tail } = progressRow(t, bar);
    const room = Math.max(8, width - textWidth(tail) - 1);
    return padToWidth(' ' + fitWidth(head, room - 1).text + tail, width);
  });
  if (shown.length < all.length) out.push(padToWidth(` … and ${all.length - shown.length} more (/transfers lists them)`, width));
  return out.map((row) => fg(COLOURS.status, row));
}

// ---- input line ---------------------------------------------------------------------------

/** The prompt before the input: the current room. */
export function promptFor(model: ViewModel): string {
  return `[${model.current.name}] `;
}
