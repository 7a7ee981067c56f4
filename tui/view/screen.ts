import blessed from 'blessed';

export interface ScreenOptions {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /**
   * The terminfo entry blessed uses, set explicitly: blessed's own terminfo parser trips over
   * some entries (with TERM=screen-256color, tmux's default, it prints errors over the screen),
   * while the xterm-256color entry it ships works in every modern terminal and in tmux.
   */
  terminal?: string;
}

/** The full-screen blessed screen, configured the one way securechat uses it. */
export function createScreen(options: ScreenOptions = {}): blessed.Widgets.Screen {
  const screen = blessed.screen({
    terminal: options.terminal ?? 'xterm-256color',
    // CJK and other double-width characters take two cells and keep the columns in place.
    fullUnicode: true,
    // Terminals are UTF-8 nowadays; without this blessed guesses from LANG and may draw '?'.
    forceUnicode: true,
    smartCSR: true,
    autoPadding: false,
    warnings: false,
    title: 'securechat',
    // The mouse is left to the terminal, so selecting and copying text works as usual.
    sendFocus: false,
    input: options.input as never,
    output: options.output as never,
  } as blessed.Widgets.IScreenOptions);
  // Draw box-drawing characters as UTF-8, not through the terminal's alternate character set
  // (ACS): UTF-8 is what every terminal we target shows correctly, tmux's capture included,
  // and text from other people that happens to contain such characters stays plain text.
  (screen as unknown as { tput: { brokenACS: boolean } }).tput.brokenACS = true;
  // The input line draws its own cursor; the terminal's would sit wherever blessed last wrote.
  screen.program.hideCursor();
  return screen;
}

/** Rings the terminal bell. */
export function ringBell(screen: blessed.Widgets.Screen): void {
  screen.program.bel();
}
