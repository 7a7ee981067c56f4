import type blessed from 'blessed';
import { ChatError, RETRY_AFTER_TRUST_CODES, TRUST_REFUSED_CODES, asChatError } from '../shared/errors.js';
import { validateUserName } from '../shared/names.js';
import { DEFAULT_SERVER, parseServerAddress } from './core/address.js';
import { ChatClient, type ChatClientOptions } from './core/client.js';
import { formatProxy, parseProxyUrl } from './core/proxy.js';
import { safeLine } from './sanitize.js';
import { KeyRouter } from './key-router.js';
import { MainController } from './main-controller.js';
import { LoginForm, type KeyInfo, type LoginValues } from './view/login-form.js';
import { Page } from './view/page.js';
import { createScreen } from './view/screen.js';
import { ViewModel } from './view/state.js';
import { refusalFacts, refusalRows, trustPromptRows } from './view/trust-view.js';

/**
 * `securechat` without --json: the full-screen client. A thin view over the client core:
 * the login page, the trust pages, then the main view (main-controller.ts).
 */
export interface TuiOptions {
  /** `HOST:PORT`; default localhost:7443. */
  server?: string;
  user?: string;
  register?: boolean;
  /** With `user`, skips the login page (from SECURECHAT_PASSWORD or --password-file). */
  password?: string;
  /** Unlocks (or on first run protects) the identity key file (SECURECHAT_PASSPHRASE). */
  passphrase?: string;
  /** A pinned relay fingerprint (`sha256:HEX`). */
  fingerprint?: string;
  /** PEM text of CA certificates to trust instead of the system ones. */
  ca?: string;
  /** Trust a relay seen for the first time without asking. */
  tofu?: boolean;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  /** Lines shown above the login form (npm start explains the local relay there). */
  banner?: string[];
  /** Extra client options (tests shorten the reconnect backoff). */
  client?: Partial<ChatClientOptions>;
  /** blessed terminfo entry; default xterm-256color. */
  terminal?: string;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

/** Exit statuses of runTui. */
export const TUI_EXIT_OK = 0;
/** The relay's certificate was refused (changed or not the pinned one). */
export const TUI_EXIT_REFUSED = 1;

function readable(error: ChatError): string {
  return `${safeLine(error.message)} (${error.code})`;
}

/** Checks the form before anything is dialled; returns a message for the user, or undefined. */
export function checkLoginValues(values: LoginValues): string | undefined {
  try {
    parseServerAddress(values.server);
    validateUserName(values.user);
  } catch (error) {
    return asChatError(error).message;
  }
  if (values.password === '') return 'please enter a password';
  return undefined;
}

class Tui {
  readonly screen: blessed.Widgets.Screen;
  readonly keys: KeyRouter;
  readonly page: Page;
  private session: MainController | null = null;
  /** The client still connecting (so an interrupt can stop it). */
  private connecting: ChatClient | null = null;
  private interrupted = false;
  private wake: (() => void) | null = null;

  constructor(private readonly options: TuiOptions) {
    this.screen = createScreen({ terminal: options.terminal, input: options.input, output: options.output });
    this.keys = new KeyRouter(this.screen);
    this.page = new Page(this.screen);
  }

  /** A signal or a closed terminal: quit from wherever we are. */
  interrupt(): void {
    this.interrupted = true;
    if (this.session) void this.session.quit(false);
    void this.connecting?.close();
    this.wake?.();
  }

  /** Shows the login form until it is submitted (values) or abandoned (null). */
  private askLogin(form: LoginForm): Promise<LoginValues | null> {
    return new Promise((resolve) => {
      const draw = () => this.page.show(form.render(this.page.width, this.page.height, this.options.banner));
      this.wake = () => resolve(null);
      this.keys.set((ch, key: KeyInfo) => {
        const action = form.key(ch, key);
        if (action === 'quit') return resolve(null);
        if (action === 'submit') {
          const problem = checkLoginValues(form.values);
          if (problem === undefined) return resolve(form.values);
          form.message = problem;
        }
        draw();
      }, draw);
      draw();
    });
  }

  /** The trust-on-first-use question: resolves true when the user trusts the relay. */
  private askTrust(server: string, fingerprint: string): Promise<boolean> {
    return new Promise((resolve) => {
      const draw = () => this.page.show(trustPromptRows(server, fingerprint, this.page.width, this.page.height));
      this.wake = () => resolve(false);
      this.keys.set((ch, key) => {
        const full = key.full ?? key.name ?? '';
        if (ch === 'y' || ch === 'Y') resolve(true);
        else if (ch === 'n' || ch === 'N' || full === 'escape' || full === 'C-c') resolve(false);
      }, draw);
      draw();
    });
  }

  /** The full-screen refusal for a changed or mismatching certificate; resolves when dismissed. */
  private showRefusal(error: ChatError): Promise<void> {
    const facts = refusalFacts(error.code, error.details);
    return new Promise((resolve) => {
      const draw = () => this.page.show(refusalRows(facts, this.page.width, this.page.height));
      this.wake = resolve;
      this.keys.set((ch, key) => {
        const full = key.full ?? key.name ?? '';
        if (ch === 'q' || ch === 'Q' || full === 'enter' || full === 'escape' || full === 'C-c') resolve();
      }, draw);
      draw();
    });
  }

  async run(): Promise<number> {
    const o = this.options;
    const direct = o.user !== undefined && o.user !== '' && o.password !== undefined && o.password !== '';
    const form = new LoginForm({ server: o.server ?? DEFAULT_SERVER, user: o.user ?? '', password: o.password ?? '', register: o.register === true });
    let skipForm = direct;
    const proxy = o.client?.proxy;
    if (proxy !== undefined) form.proxy = safeLine(formatProxy(typeof proxy === 'string' ? parseProxyUrl(proxy) : proxy));

    for (;;) {
      if (this.interrupted) return TUI_EXIT_OK;
      form.busy = undefined;
      let values: LoginValues | null = form.values;
      if (!skipForm) values = await this.askLogin(form);
      skipForm = false;
      if (values === null || this.interrupted) return TUI_EXIT_OK;
      const problem = checkLoginValues(values);
      if (problem !== undefined) {
        form.message = problem;
        continue;
      }

      form.busy = `connecting to ${values.server}${form.proxy !== undefined ? ` through ${form.proxy}` : ''}…`;
      form.message = undefined;
      const showBusy = () => this.page.show(form.render(this.page.width, this.page.height, o.banner));
      this.keys.set((ch, key) => {
        if (form.key(ch, key) === 'quit') this.interrupt();
      }, showBusy);
      showBusy();

      let trusted = false;
      let declined = false;
      const clientOptions: ChatClientOptions = {
        server: values.server,
        user: values.user,
        password: values.password,
        passphrase: o.passphrase,
        register: values.register,
        reconnect: o.reconnect !== false,
        // Back to the chatroom of the last run on this relay (scripts in JSON mode start in global).
        returnToLastRoom: true,
        trust: {
          fingerprint: o.fingerprint,
          ca: o.ca,
          tofu: o.tofu === true,
          confirmNew: async (relay) => {
            const yes = await this.askTrust(relay.server, relay.fingerprint);
            trusted ||= yes;
            declined ||= !yes;
            showBusy();
            return yes && !this.interrupted;
          },
        },
        ...o.client,
      };

      const model = new ViewModel({ server: values.server, user: values.user });
      const session = new MainController({ screen: this.screen, keys: this.keys, model, clientOptions });
      let failure: ChatError | null = null;
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        let client: ChatClient;
        try {
          client = new ChatClient(attempt === 1 ? clientOptions : { ...clientOptions, trust: { ...clientOptions.trust, confirmNew: undefined } });
        } catch (error) {
          failure = asChatError(error);
          break;
        }
        session.attach(client);
        this.connecting = client;
        try {
          await client.connect();
          failure = null;
          break;
        } catch (error) {
          failure = asChatError(error);
          await client.close();
          if (this.interrupted || !(attempt === 1 && trusted && RETRY_AFTER_TRUST_CODES.has(failure.code))) break;
        } finally {
          this.connecting = null;
        }
      }
      if (this.interrupted) {
        await session.client?.close();
        return TUI_EXIT_OK;
      }
      if (failure) {
        if (TRUST_REFUSED_CODES.has(failure.code)) {
          await this.showRefusal(failure);
          return TUI_EXIT_REFUSED;
        }
        form.message = declined && failure.code === 'E_UNTRUSTED' ? 'not connected: you did not trust the relay' : readable(failure);
        // A failed registration most likely means the name is taken; logging in is the next try.
        if (failure.code === 'E_USER_EXISTS') form.register = false;
        continue;
      }

      this.page.hide();
      // An account made now is logged in to from here on (reconnects, /reconnect).
      this.session = session;
      return session.run();
    }
  }

  destroy(): void {
    this.keys.detach();
    this.page.destroy();
    this.screen.destroy();
  }
}

/**
 * Runs the full-screen client until the user quits; resolves with the exit status
 * (0, or 1 when a changed relay certificate was refused). Restores the terminal on the way out.
 */
export async function runTui(options: TuiOptions): Promise<number> {
  const tui = new Tui(options);
  const onSignal = () => tui.interrupt();
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await tui.run();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('SIGINT', onSignal);
    tui.destroy();
  }
}
