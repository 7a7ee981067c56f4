import type blessed from 'blessed';
import type { KeyInfo } from './view/login-form.js';

/** Routes the screen's keys and redraws to whichever page is showing. */
export class KeyRouter {
  private handler: ((ch: string | undefined, key: KeyInfo) => void) | null = null;
  private redraw: (() => void) | null = null;
  private readonly onKey = (ch: string | undefined, key: KeyInfo) => {
    // blessed reports one press of the Return key twice: first as `enter`, then as `return`
    // with ch '\r'. Pages act on `enter`; the echo would reach whichever page shows next (the
    // login form, right after it submitted) and be typed there as a character.
    if (key.name === 'return' && key.sequence === '\r') return;
    this.handler?.(ch, key);
  };
  private readonly onResize = () => this.redraw?.();

  constructor(private readonly screen: blessed.Widgets.Screen) {
    screen.on('keypress', this.onKey);
    screen.on('resize', this.onResize);
  }

  set(handler: (ch: string | undefined, key: KeyInfo) => void, redraw: () => void): void {
    this.handler = handler;
    this.redraw = redraw;
  }

  detach(): void {
    this.screen.off('keypress', this.onKey);
    this.screen.off('resize', this.onResize);
    this.handler = null;
    this.redraw = null;
  }
}
