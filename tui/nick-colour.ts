import { nameKey } from '../shared/names.js';

/**
 * A stable colour per nick, as WeeChat and irssi do: the same user has the same colour in
 * every room, every session and on every machine, so people recognise each other at a
 * glance. Names are compared without case (as the relay does), so `Alice` and `alice` match.
 *
 * The palette is xterm-256 indexes readable on both dark and light backgrounds: no near-black,
 * near-white or greys, and no pure red, which the TUI keeps for errors.
 */
export const NICK_PALETTE: readonly number[] = [
  33, 39, 45, 37, 43, 49, // blues and cyans
  34, 40, 70, 76, 106, 112, // greens
  136, 142, 172, 178, 208, 214, // yellows and oranges
  161, 163, 169, 171, 201, 207, // pinks and magentas
  92, 98, 99, 105, 135, 141, // purples
  166, 173, // warm browns
];

/**
 * FNV-1a, 32 bits, over the UTF-16 code units of the name key. Chosen because it is tiny,
 * stable across Node versions (unlike anything built on string hashing internals) and spreads
 * similar names (`bob1`, `bob2`) over different colours.
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The xterm-256 colour index for `nick` (one of NICK_PALETTE). */
export function nickColour(nick: string): number {
  return NICK_PALETTE[fnv1a32(nameKey(nick)) % NICK_PALETTE.length];
}
