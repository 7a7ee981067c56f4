import blessed from 'blessed';
import type { Layout } from './render.js';
import { COLOURS } from './style.js';

/** What the main view shows: one string per row of each pane, built by render.ts. */
export interface MainFrame {
  layout: Layout;
  rooms: string[];
  messages: string[];
  users: string[];
  /** The advisory bar (a key change waiting for /trust); shown when layout.advisoryRow >= 0. */
  advisory: string;
  /** The transfers panel's rows; shown when layout.transfersRow >= 0. */
  transfers: string[];
  status: string;
  input: string;
}

/**
 * The main view's widgets: rooms | messages | users, the transfers panel (only while a
 * transfer runs), the advisory bar (only while a key change waits), the status bar and the
 * input line. It
 * only places boxes and sets their text; it knows nothing of the client or the network.
 * Every box has `tags: false` and `wrap: false`: rows come pre-wrapped and pre-sanitized.
 */
export class MainView {
  private readonly rooms: blessed.Widgets.BoxElement;
  private readonly leftRule: blessed.Widgets.BoxElement;
  private readonly messages: blessed.Widgets.BoxElement;
  private readonly rightRule: blessed.Widgets.BoxElement;
  private readonly users: blessed.Widgets.BoxElement;
  private readonly advisory: blessed.Widgets.BoxElement;
  private readonly transfers: blessed.Widgets.BoxElement;
  private readonly status: blessed.Widgets.BoxElement;
  private readonly input: blessed.Widgets.BoxElement;
  private readonly all: blessed.Widgets.BoxElement[];

  constructor(private readonly screen: blessed.Widgets.Screen) {
    const box = (style: Record<string, unknown> = {}) =>
      blessed.box({ parent: screen, top: 0, left: 0, width: 1, height: 1, tags: false, wrap: false, hidden: true, style });
    this.rooms = box();
    this.leftRule = box({ fg: COLOURS.border });
    this.messages = box();
    this.rightRule = box({ fg: COLOURS.border });
    this.users = box();
    this.advisory = box({ bg: COLOURS.alertBg, fg: COLOURS.alert });
    this.transfers = box();
    this.status = box({ bg: COLOURS.statusBg, fg: COLOURS.status });
    this.input = box();
    this.all = [this.rooms, this.leftRule, this.messages, this.rightRule, this.users, this.advisory, this.transfers, this.status, this.input];
  }

  private place(element: blessed.Widgets.BoxElement, top: number, left: number, width: number, height: number, rows: readonly string[]): void {
    if (width <= 0 || height <= 0) {
      element.hide();
      return;
    }
    element.top = top;
    element.left = left;
    element.width = width;
    element.height = height;
    element.setContent(rows.join('\n'));
    element.show();
  }

  /** Draws one frame and renders the screen. */
  draw(frame: MainFrame): void {
    const l = frame.layout;
    const rule = Array(Math.max(0, l.paneHeight)).fill('│');
    this.place(this.rooms, 0, 0, l.roomsWidth, l.paneHeight, frame.rooms);
    this.place(this.leftRule, 0, l.roomsWidth, l.roomsWidth > 0 ? 1 : 0, l.paneHeight, rule);
    this.place(this.messages, 0, l.messagesLeft, l.messagesWidth, l.paneHeight, frame.messages);
    this.place(this.rightRule, 0, l.messagesLeft + l.messagesWidth, l.usersWidth > 0 ? 1 : 0, l.paneHeight, rule);
    this.place(this.users, 0, l.messagesLeft + l.messagesWidth + 1, l.usersWidth, l.paneHeight, frame.users);
    this.place(this.transfers, Math.max(0, l.transfersRow), 0, l.cols, l.transfersRow >= 0 ? l.transfersHeight : 0, frame.transfers);
    this.place(this.advisory, Math.max(0, l.advisoryRow), 0, l.cols, l.advisoryRow >= 0 ? 1 : 0, [frame.advisory]);
    this.place(this.status, l.statusRow, 0, l.cols, 1, [frame.status]);
    this.place(this.input, l.inputRow, 0, l.cols, 1, [frame.input]);
    this.screen.render();
  }

  hide(): void {
    for (const element of this.all) element.hide();
  }

  destroy(): void {
    for (const element of this.all) element.destroy();
  }
}
