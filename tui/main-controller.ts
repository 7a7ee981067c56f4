import type blessed from 'blessed';
import { asChatError } from '../shared/errors.js';
import { CLIENT_DEFAULTS } from '../shared/limits.js';
import { nameKey } from '../shared/names.js';
import { TabCompleter, type CompletionSources } from './completion.js';
import { ChatClient, type ChatClientOptions } from './core/client.js';
import type { CommandRegistry } from './core/commands.js';
import { dispatchLine, type JobWatcher } from './core/dispatch.js';
import type { ChatEvent } from './core/events.js';
import { InputHistory } from './input-history.js';
import type { KeyRouter } from './key-router.js';
import { listPathCompletions } from './path-completion.js';
import { safeLine } from './sanitize.js';
import { createTuiCommands, type LocalTarget } from './tui-commands.js';
import type { KeyInfo } from './view/login-form.js';
import { EDITING_KEYS, LineEditor } from './view/line-editor.js';
import { MainView } from './view/main-view.js';
import {
  computeLayout,
  messageRows,
  promptFor,
  renderAdvisory,
  renderMessages,
  renderRooms,
  renderStatus,
  renderTransfers,
  transferPanelRows,
  renderUsers,
  scrollBy,
} from './view/render.js';
import { ringBell } from './view/screen.js';
import type { ViewModel } from './view/state.js';
import { bold, inverse } from './view/style.js';
import { fitWidth, textWidth } from './view/text-width.js';

export interface MainControllerOptions {
  screen: blessed.Widgets.Screen;
  keys: KeyRouter;
  model: ViewModel;
  /** Used again by /reconnect (with register off: the account exists by then). */
  clientOptions: ChatClientOptions;
}

/**
 * The main view's controller: keys to the line editor, history, completion, scrolling and
 * commands; client events to the view model; the model to the screen. The only place that
 * talks to the ChatClient once logged in.
 */
export class MainController {
  client: ChatClient | null = null;
  private readonly editor = new LineEditor();
  private readonly history = new InputHistory();
  private readonly completer = new TabCompleter();
  private readonly registry: CommandRegistry = createTuiCommands();
  private view: MainView | null = null;
  private unsubscribe: (() => void) | null = null;
  private drawPending = false;
  private ticker: NodeJS.Timeout | null = null;
  /** A redraw for progress ticks is waiting (bounded rate), and when the last one ran (ms). */
  private progressTimer: NodeJS.Timeout | null = null;
  private lastProgressDrawMs = 0;
  private finish: ((code: number) => void) | null = null;
  private quitting = false;

  constructor(private readonly options: MainControllerOptions) {}

  get model(): ViewModel {
    return this.options.model;
  }

  /** Starts listening to a client (before its connect, so the first events are kept). */
  attach(client: ChatClient): void {
    this.unsubscribe?.();
    this.client = client;
    this.unsubscribe = client.on('*', (event) => this.onEvent(client, event));
  }

  private onEvent(client: ChatClient, event: ChatEvent): void {
    if (client !== this.client) return;
    // The core measures the round trip right after each connect, so the status bar has it early.
    const effects = this.model.apply(event);
    if (this.view) {
      if (effects.bell) ringBell(this.options.screen);
      // Progress ticks (up to 4 a second per transfer, several transfers) redraw at most
      // CLIENT_DEFAULTS.tuiProgressRedrawsPerSecond times a second together; everything else at once.
      if (event.type === 'transfer-progress' || event.type === 'room-file-progress' || event.type === 'folder-state') this.scheduleProgressDraw();
      else this.scheduleDraw();
    }
  }

  /** Shows the main view and resolves with the exit status when the user quits. */
  run(): Promise<number> {
    this.view = new MainView(this.options.screen);
    this.options.keys.set(
      (ch, key) => this.onKey(ch, key),
      () => this.draw(),
    );
    this.ticker = setInterval(() => {
      // The reconnect countdown moves once a second.
      if (this.model.status.phase === 'reconnecting') this.scheduleDraw();
    }, 1_000);
    this.draw();
    return new Promise<number>((resolve) => {
      this.finish = resolve;
    });
  }

  /** Quits: politely (/exit) or at once (Ctrl-C, a signal). */
  async quit(polite: boolean): Promise<void> {
    if (this.quitting) return;
    this.quitting = true;
    const client = this.client;
    if (client) {
      if (polite && client.state !== 'closed') {
        this.model.system('leaving once the relay has stored what you sent…');
        this.draw();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([client.exit().catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, CLIENT_DEFAULTS.exitGraceMs)))]);
        clearTimeout(timer);
      }
      // Ctrl-C, a signal or a closed terminal keep running transfers for the next start from
      // this data folder (the transfer journal); /exit ends them.
      await client.close({ suspendTransfers: !polite });
    }
    this.unsubscribe?.();
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.progressTimer !== null) clearTimeout(this.progressTimer);
    this.progressTimer = null;
    this.view?.destroy();
    this.view = null;
    this.finish?.(0);
  }

  // ---- drawing ----------------------------------------------------------------------------

  private scheduleProgressDraw(): void {
    if (this.progressTimer !== null) return;
    const wait = Math.max(0, this.lastProgressDrawMs + 1000 / CLIENT_DEFAULTS.tuiProgressRedrawsPerSecond - Date.now());
    this.progressTimer = setTimeout(() => {
      this.progressTimer = null;
      this.lastProgressDrawMs = Date.now();
      this.scheduleDraw();
    }, wait);
  }

  private scheduleDraw(): void {
    if (this.drawPending) return;
    this.drawPending = true;
    setImmediate(() => {
      this.drawPending = false;
      this.draw();
    });
  }

  private draw(): void {
    const view = this.view;
    if (!view) return;
    const layout = this.layout();
    const messages = renderMessages(this.model, layout.messagesWidth, layout.paneHeight);
    // Scrolled back down to the newest line (or the lines above got shorter): follow again.
    if (messages.view.anchor === null && this.model.current.anchor !== null) this.model.setAnchor(null);
    view.draw({
      layout,
      rooms: renderRooms(this.model.roomList(), layout.roomsWidth, layout.paneHeight),
      messages: messages.rows,
      users: renderUsers(this.model.users, this.model.user, layout.usersWidth, layout.paneHeight, this.model.away),
      advisory: renderAdvisory(this.model, layout.cols),
      transfers: renderTransfers(this.model, layout.cols, layout.transfersHeight),
      status: renderStatus(this.model, layout.cols, Date.now()),
      input: this.inputRow(layout.cols),
    });
  }

  /** The screen's layout now (with the advisory bar while a key change waits). */
  private layout() {
    const screen = this.options.screen;
    return computeLayout(Number(screen.width), Number(screen.height), this.model.advisories.length > 0, transferPanelRows(this.model));
  }

  private inputRow(columns: number): string {
    const prompt = fitWidth(promptFor(this.model), Math.max(0, Math.floor(columns / 3))).text;
    const room = Math.max(1, columns - textWidth(prompt));
    const w = this.editor.window(room);
    return bold(prompt) + w.before + inverse(w.atCursor) + w.after;
  }

  // ---- keys ---------------------------------------------------------------------------------

  private completionSources(): CompletionSources {
    const own = nameKey(this.model.user);
    const rooms = this.model
      .roomList()
      .map((r) => r.name)
      .filter((name) => nameKey(name) !== 'global');
    return {
      commands: this.registry.names(),
      nicks: this.model.users.filter((u) => nameKey(u) !== own),
      rooms,
      paths: (word, options) => listPathCompletions(word, options),
      transferIds: [...this.model.files.transfers.keys()],
      fileIds: this.model.files.roomFileIds(),
    };
  }

  private scrollPage(direction: -1 | 1): void {
    const layout = this.layout();
    const rows = messageRows(this.model.current, this.model.pending, this.model.user, layout.messagesWidth, this.model.currentTime());
    const step = Math.max(1, layout.paneHeight - 2);
    this.model.setAnchor(scrollBy(rows, this.model.current.anchor, layout.paneHeight, direction * step));
  }

  private onKey(ch: string | undefined, key: KeyInfo): void {
    const full = key.full ?? key.name ?? '';
    switch (full) {
      case 'C-c':
        void this.quit(false);
        return;
      case 'enter':
      case 'linefeed':
        this.submit();
        break;
      case 'tab':
      case 'S-tab': {
        const result =
          full === 'tab'
            ? this.completer.next(this.editor.text, this.editor.cursorUnits, this.completionSources())
            : this.completer.previous(this.editor.text, this.editor.cursorUnits, this.completionSources());
        if (result) this.editor.set(result.line, result.cursor);
        break;
      }
      case 'up': {
        const line = this.history.up(this.editor.text);
        if (line !== undefined) this.editor.set(line);
        break;
      }
      case 'down': {
        const line = this.history.down(this.editor.text);
        if (line !== undefined) this.editor.set(line);
        break;
      }
      case 'pageup':
        this.scrollPage(-1);
        break;
      case 'pagedown':
        this.scrollPage(1);
        break;
      case 'C-l':
        this.options.screen.realloc();
        break;
      case 'C-r': {
        // WeeChat's key for searching the buffer: /search before what is typed, the cursor at the end.
        const typed = this.editor.text.startsWith('/search ') ? this.editor.text.slice('/search '.length) : this.editor.text;
        this.editor.set(`/search ${typed}`);
        break;
      }
      case 'escape':
        // Hides the key-change bar; the change itself still waits for /trust.
        if (!this.model.dismissAdvisory()) return;
        break;
      default: {
        const edit = EDITING_KEYS.get(full);
        if (edit !== undefined) edit(this.editor);
        else if (ch !== undefined && ch.length > 0 && !key.ctrl && !key.meta && full !== 'escape') this.editor.insert(ch);
        else return;
      }
    }
    this.scheduleDraw();
  }

  // ---- input lines ----------------------------------------------------------------------------

  /**
   * Enter: a command or a message, through the one dispatcher. The line stays in the input
   * when it cannot be acted on now (offline, a typo); it is taken (and remembered) once it runs.
   */
  private submit(): void {
    const line = this.editor.text;
    const accept = (): void => {
      this.editor.take();
      this.history.push(line);
    };
    // A long line comes to `say` as several parts (split at word boundaries): one notice for all.
    let toldOffline = false;
    void dispatchLine(line, {
      client: this.client,
      registry: this.registry,
      refused: (error, name) => {
        // Kept in the input so a typo can be fixed.
        this.history.push(line);
        this.model.error(error.code, error.message, name);
      },
      say: (text) => {
        const client = this.client;
        if (!client || client.state === 'closed' || client.state === 'idle') {
          if (!toldOffline) this.model.system('offline: the message stays in the input line; /reconnect, then press Enter again');
          toldOffline = true;
          return;
        }
        accept();
        // Shown greyed until the relay stores it; while reconnecting it is queued and resent.
        const pending = this.model.addPending(text);
        client.say(text).then(
          () => {
            this.model.removePending(pending);
            this.scheduleDraw();
          },
          (error: unknown) => {
            this.model.removePending(pending);
            const e = asChatError(error);
            this.model.error(e.code, `not sent: "${safeLine(text)}": ${e.message}`);
            this.scheduleDraw();
          },
        );
      },
      local: (command, args) => {
        accept();
        void command.run(this.localTarget, args);
      },
      ends: () => {
        this.editor.take();
        void this.quit(true);
      },
      notConnected: (command, client) => {
        const why = client?.state === 'reconnecting' ? 'reconnecting' : 'offline';
        this.model.system(`${why}: /${command.name} stays in the input line; press Enter again once connected`);
      },
      started: (command, args) => {
        accept();
        return command.job === true ? this.startJob(command.name, args) : undefined;
      },
      done: (command, result) => {
        if (command.name === 'ping' && typeof result === 'number') {
          this.model.system(`pong from ${this.model.status.server}: ${result} ms`);
          this.scheduleDraw();
        }
      },
      failed: (error, name) => {
        this.model.error(error.code, error.message, name);
        this.scheduleDraw();
      },
    });
  }

  /** What the local commands (/help, /clear, /reconnect) act on. */
  private get localTarget(): LocalTarget {
    return { model: this.model, registry: this.registry, reconnect: () => void this.reconnect() };
  }

  /**
   * /upload and /download: a line when it starts and a status-bar item while it runs (the
   * core reports no progress for room files, only the end); the result line comes from the
   * core's event (`file-uploaded`, `file-downloaded`), a failure is shown here with a hint.
   */
  private startJob(name: string, args: unknown): JobWatcher {
    let job: number;
    if (name === 'upload') {
      job = this.model.files.startUpload(args as string);
    } else {
      const { id, dir } = args as { id: string; dir?: string };
      job = this.model.files.startDownload(id, dir ?? this.client?.transfers.downloadDir ?? '.');
    }
    this.scheduleDraw();
    return {
      done: () => {
        this.model.files.finishRoomFile(job);
        this.scheduleDraw();
      },
      failed: (e) => {
        this.model.files.roomFileFailed(job, e.code, e.message);
        this.scheduleDraw();
      },
    };
  }

  /**
   * /reconnect: connects the same client again once it gave up (it keeps its keys, its room
   * and what is on screen); a new client with the same options if there is none.
   */
  private async reconnect(): Promise<void> {
    const old = this.client;
    if (old && old.state !== 'closed' && old.state !== 'idle') {
      this.model.system(old.state === 'reconnecting' ? 'already reconnecting' : old.state === 'connecting' ? 'already connecting' : 'already connected');
      return;
    }
    let client: ChatClient;
    if (old) {
      client = old;
    } else {
      try {
        client = new ChatClient({ ...this.options.clientOptions, register: false });
      } catch (error) {
        const e = asChatError(error);
        this.model.error(e.code, e.message, 'reconnect');
        return;
      }
      this.attach(client);
    }
    this.model.status = { ...this.model.status, phase: 'connecting' };
    this.model.system(`connecting to ${this.model.status.server}…`);
    this.scheduleDraw();
    try {
      await client.connect();
    } catch (error) {
      const e = asChatError(error);
      this.model.status = { ...this.model.status, phase: 'offline' };
      this.model.error(e.code, e.message, 'reconnect');
    }
    this.scheduleDraw();
  }
}
