import blessed from 'blessed';

/**
 * A full-screen page (the login form, the trust question, the refusal): one box that shows
 * rows built elsewhere. `tags: false`: rows carry only SGR codes from style.ts.
 */
export class Page {
  private readonly box: blessed.Widgets.BoxElement;

  constructor(private readonly screen: blessed.Widgets.Screen) {
    this.box = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: '100%', tags: false, wrap: false, hidden: true });
  }

  get width(): number {
    return Number(this.screen.width);
  }

  get height(): number {
    return Number(this.screen.height);
  }

  show(rows: readonly string[]): void {
    this.box.setContent(rows.join('\n'));
    this.box.show();
    this.box.setFront();
    this.screen.render();
  }

  hide(): void {
    this.box.hide();
  }

  destroy(): void {
    this.box.destroy();
  }
}
